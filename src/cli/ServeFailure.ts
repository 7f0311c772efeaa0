/**
 * `arcp serve`'s failures in one sentence each: the flag values checked before anything starts, and the
 * start-up failures (a taken port, an unusable --db) translated from the errors underneath.
 */
import { Options } from "@effect/cli"
import { FileSystem } from "@effect/platform"
import { type Cause, Effect, Option } from "effect"
import { dirname } from "node:path"
import { CliError, codeOf, errorsOf, usage } from "./Failure.js"

/** A port option: an integer from 0 to 65535 (0 picks a free port), checked when the command line is read. */
export const validPort = (option: Options.Options<number>, flag: string): Options.Options<number> =>
  option.pipe(Options.filterMap(
    (port) => Number.isInteger(port) && port >= 0 && port <= 65_535 ? Option.some(port) : Option.none(),
    `${flag} must be a port number from 0 to 65535 (0 picks a free one)`
  ))

/** Checks `--db` before opening it: its folder must exist and it must not be a folder itself. */
export const checkDb = (db: string): Effect.Effect<void, CliError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    if (db === ":memory:") return
    const fs = yield* FileSystem.FileSystem
    const info = yield* fs.stat(db).pipe(Effect.option)
    if (Option.isSome(info) && info.value.type === "Directory") {
      return yield* usage(`--db ${db} is a directory: give the path of a database file (or :memory:)`)
    }
    const folder = yield* fs.stat(dirname(db)).pipe(Effect.option)
    if (Option.isNone(folder) || folder.value.type !== "Directory") {
      return yield* usage(`--db ${db}: the folder ${dirname(db)} does not exist; create it or choose another path`)
    }
  })

/** A start-up failure of `arcp serve` as a sentence, when it is one we know; otherwise the cause goes on unchanged. */
export const explainStartFailure = (
  cause: Cause.Cause<unknown>,
  o: { readonly host: string; readonly port: number; readonly db: string }
): CliError | undefined => {
  const errors = errorsOf(cause)
  const errno = errors.map((e) => codeOf(e)).find((c) => c !== undefined)
  const sqlite = errors.map((e) => codeOf(e, /^SQLITE_/)).find((c) => c !== undefined)
  switch (errno) {
    case "EADDRINUSE":
      return new CliError({
        message:
          `port ${o.port} on ${o.host} is already in use: stop what holds it, or choose another with --port (0 picks a free one)`
      })
    case "EACCES":
      return new CliError({ message: `not allowed to listen on ${o.host}:${o.port}: choose a port above 1023` })
    case "EADDRNOTAVAIL":
    case "ENOTFOUND":
      return new CliError({ message: `cannot listen on ${o.host}: that address is not this machine's (--host)` })
  }
  if (sqlite === "SQLITE_NOTADB" || sqlite === "SQLITE_CORRUPT") {
    return new CliError({
      message: `--db ${o.db} is not an SQLite database: choose a new file, or the event log of an earlier arcp serve`
    })
  }
  if (sqlite === "SQLITE_CANTOPEN" || sqlite === "SQLITE_READONLY" || sqlite === "SQLITE_PERM") {
    return new CliError({
      message: `--db ${o.db} cannot be opened for writing: check its permissions, or choose another path`
    })
  }
  return undefined
}
