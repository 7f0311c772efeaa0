/**
 * How the `arcp` command fails: one sentence on stderr saying what is wrong and what to do, and an exit
 * status (2 for a mistake in the command line, 1 for everything else). Never a stack trace or a dumped
 * cause: with ARCP_LOG_LEVEL=debug the full cause follows the sentence, for bug reports.
 */
import { ValidationError } from "@effect/cli"
import { Cause, Console, Data, Effect, Option } from "effect"

/** A failure the command explains in `message`; `code` is the exit status (1 by default, 2 for usage). */
export class CliError extends Data.TaggedError("CliError")<{ readonly message: string; readonly code?: 1 | 2 }> {}

/** A usage mistake (a bad flag value, a missing credential): exit status 2. */
export const usage = (message: string): CliError => new CliError({ message, code: 2 })

/**
 * The first error code matching `pattern` in `error`'s cause chain: an operating-system code
 * (`EADDRINUSE`, `ECONNREFUSED`; the default) or, say, SQLite's (`/^SQLITE_/`).
 */
export const codeOf = (error: unknown, pattern = /^E[A-Z]+$/, depth = 0): string | undefined => {
  if (depth > 8 || typeof error !== "object" || error === null) return undefined
  const code: unknown = "code" in error ? error.code : undefined
  if (typeof code === "string" && pattern.test(code)) return code
  for (const key of ["cause", "error"]) {
    const found = codeOf(Reflect.get(error, key), pattern, depth + 1)
    if (found !== undefined) return found
  }
  return undefined
}

/** The message at the bottom of `error`'s cause chain: the one that says what actually happened. */
export const rootMessage = (error: unknown): string => {
  let message = error instanceof Error ? error.message : String(error)
  let current: unknown = error
  for (let depth = 0; depth < 8 && typeof current === "object" && current !== null; depth++) {
    const inner: unknown = Reflect.get(current, "cause") ?? Reflect.get(current, "error")
    if (inner instanceof Error && inner.message !== "") message = inner.message
    current = inner
  }
  return message
}

/** Every failure and defect of `cause`, outermost first. */
export const errorsOf = (cause: Cause.Cause<unknown>): ReadonlyArray<unknown> => [
  ...Cause.failures(cause),
  ...Cause.defects(cause)
]

/** The first message in `error`'s chain that says more than a bare reason ("Open", "Read"). */
const messageOf = (error: unknown): string => {
  let current: unknown = error
  for (let depth = 0; depth < 8 && typeof current === "object" && current !== null; depth++) {
    const message: unknown = "message" in current ? current.message : undefined
    if (typeof message === "string" && message.length > 8) return message.split("\n")[0] ?? message
    current = "cause" in current ? current.cause : undefined
  }
  return String(error)
}

const debug = process.env["ARCP_LOG_LEVEL"] === "debug"

/**
 * The command's last word on a failed run: the sentence and the exit status. @effect/cli has already
 * printed its own sentence for a command-line mistake; an interruption (Ctrl-C) is passed on untouched.
 */
export const report = (cause: Cause.Cause<unknown>): Effect.Effect<void, never> => {
  if (Cause.isInterruptedOnly(cause)) return Effect.void
  const failure = Option.getOrUndefined(Cause.failureOption(cause))
  const exit = (code: number) =>
    Effect.sync(() => {
      process.exitCode = code
    })
  const details = debug ? Console.error(Cause.pretty(cause)) : Effect.void
  if (ValidationError.isValidationError(failure)) {
    return ValidationError.isHelpRequested(failure) ? Effect.void : exit(2)
  }
  if (failure instanceof CliError) {
    return Console.error(`arcp: ${failure.message}`).pipe(
      Effect.zipRight(details),
      Effect.zipRight(exit(failure.code ?? 1))
    )
  }
  const first = errorsOf(cause)[0]
  return Console.error(`arcp: ${messageOf(first)} (unexpected: rerun with ARCP_LOG_LEVEL=debug for details)`).pipe(
    Effect.zipRight(details),
    Effect.zipRight(exit(1))
  )
}

/** Ends the process with a status code; the command already printed why. */
export class ExitCode extends Data.TaggedError("ExitCode")<{ readonly code: number }> {}

/** Sets the process exit status from an `ExitCode` (the CLI edge; use with `Effect.catchTag("ExitCode", ...)`). */
export const setExitCode = (e: ExitCode): Effect.Effect<void> =>
  Effect.sync(() => {
    process.exitCode = e.code
  })
