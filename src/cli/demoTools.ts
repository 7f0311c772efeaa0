/**
 * The demo tools of `arcp serve` (on unless `--no-demo-tools`): something for
 * users and black-box tests to run — echo, ticker, stream, sleep, stubborn, fail, flaky,
 * guarded (a permission), ask and choose (a human).
 */
import { Duration, Effect, Option, Schema, Stream } from "effect"
import { randomBytes } from "node:crypto"
import { ArcpError, CanonicalCode, NamespacedCode } from "../protocol/Errors.js"
import * as Tools from "../runtime/Tools.js"

/** `echo`: the result is its arguments. */
export const echo = Tools.make({
  name: "echo",
  description: "Returns its arguments",
  parameters: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  handler: (args) => Effect.succeed(args)
})

/** `ticker {count, interval_ms?}`: `count` progress events (current/total), then `{count}`. */
export const ticker = Tools.make({
  name: "ticker",
  description: "Emits count job.progress events, interval_ms apart",
  parameters: Schema.Struct({
    count: Schema.Number.pipe(Schema.int(), Schema.between(0, 100_000)),
    interval_ms: Schema.optional(Schema.Number.pipe(Schema.int(), Schema.nonNegative()))
  }),
  handler: ({ count, interval_ms }, ctx) =>
    Effect.gen(function*() {
      for (let current = 1; current <= count; current++) {
        if (interval_ms !== undefined && interval_ms > 0) yield* Effect.sleep(Duration.millis(interval_ms))
        yield* ctx.progress({ current, total: count, percent: count === 0 ? 100 : Math.round((current / count) * 100) })
      }
      return { count }
    })
})

/**
 * `stream {chunks, interval_ms?, kind?}`: a text (or thought) stream of `chunks`
 * chunks, then stream.close; the result is `{chunks}`, the number written. A
 * client may cancel the stream alone (§10.4): the tool stops writing and still returns.
 */
export const stream = Tools.make({
  name: "stream",
  description: "Streams chunks text chunks, interval_ms apart, then closes the stream",
  parameters: Schema.Struct({
    chunks: Schema.Number.pipe(Schema.int(), Schema.between(0, 100_000)),
    interval_ms: Schema.optional(Schema.Number.pipe(Schema.int(), Schema.nonNegative())),
    kind: Schema.optional(Schema.Literal("text", "thought"))
  }),
  handler: ({ chunks, interval_ms, kind }, ctx) =>
    Effect.gen(function*() {
      const writer = yield* ctx.stream({ kind: kind ?? "text", content_type: "text/plain" })
      let written = 0
      yield* Effect.gen(function*() {
        for (let n = 1; n <= chunks; n++) {
          if (interval_ms !== undefined && interval_ms > 0) yield* Effect.sleep(Duration.millis(interval_ms))
          yield* writer.write(`chunk ${n} of ${chunks}\n`)
          written = n
        }
        yield* writer.close()
        // the client cancelled the stream, not the job: stop writing and finish normally
      }).pipe(Effect.catchIf((e) => e.code === "CANCELLED", () => Effect.void))
      return { chunks: written }
    })
})

/** `sleep {ms}`: waits (cancellable), then `{slept}`. */
export const sleep = Tools.make({
  name: "sleep",
  description: "Sleeps for ms milliseconds; cancellable",
  parameters: Schema.Struct({ ms: Schema.Number.pipe(Schema.int(), Schema.nonNegative()) }),
  handler: ({ ms }) => Effect.as(Effect.sleep(Duration.millis(ms)), { slept: ms })
})

/** `stubborn {ms}`: ignores cancellation for `ms` (to show the ABORTED escalation of §10.4). */
export const stubborn = Tools.make({
  name: "stubborn",
  description: "Ignores cancellation for ms milliseconds",
  parameters: Schema.Struct({ ms: Schema.Number.pipe(Schema.int(), Schema.nonNegative()) }),
  handler: ({ ms }) => Effect.uninterruptible(Effect.as(Effect.sleep(Duration.millis(ms)), { slept: ms }))
})

/** `fail {code, message}`: fails with that canonical (or namespaced) code. */
export const fail = Tools.make({
  name: "fail",
  description: "Fails with the given error code",
  parameters: Schema.Struct({
    code: Schema.Union(CanonicalCode, NamespacedCode),
    message: Schema.optional(Schema.String)
  }),
  handler: ({ code, message }) => Effect.fail(ArcpError.of(code, message ?? `failed with ${code} on request`))
})

/** How many bytes `make_artifact` generates at a time: the artifact is streamed, never held whole. */
const ARTIFACT_CHUNK = 256 * 1024

/**
 * `make_artifact {size, media_type?}`: stores `size` pseudo-random bytes as an artifact
 * (media type application/octet-stream by default) and ends with `tool.result {result_ref}` (§16.1).
 */
export const makeArtifact = Tools.make({
  name: "make_artifact",
  description: "Stores size pseudo-random bytes as an artifact and returns {result_ref}",
  parameters: Schema.Struct({
    size: Schema.Number.pipe(Schema.int(), Schema.nonNegative()),
    media_type: Schema.optional(Schema.String.pipe(Schema.minLength(1)))
  }),
  handler: ({ media_type, size }, ctx) => {
    const chunks = Stream.unfold(
      size,
      (left) => left > 0 ? Option.some([Math.min(left, ARTIFACT_CHUNK), left - ARTIFACT_CHUNK] as const) : Option.none()
    )
    const bytes = Stream.mapEffect(chunks, (n) => Effect.sync(() => new Uint8Array(randomBytes(n))))
    return Effect.map(ctx.putArtifact(bytes, media_type ?? "application/octet-stream"), Tools.resultRef)
  }
})

/**
 * `flaky {fail_times, code?}`: fails with `code` (default UNAVAILABLE) on the first `fail_times`
 * attempts of a job, then returns `{attempts}`. Its retry policy allows 5 attempts, 100 ms backoff
 * doubling: `fail_times: 2` ends in `{attempts: 3}` with retry_count 2 (§10.1, §18.3).
 */
export const flaky = Tools.make({
  name: "flaky",
  description: "Fails with code (default UNAVAILABLE) on its first fail_times attempts, then returns {attempts}",
  parameters: Schema.Struct({
    fail_times: Schema.Number.pipe(Schema.int(), Schema.between(0, 100)),
    code: Schema.optional(Schema.Union(CanonicalCode, NamespacedCode))
  }),
  retry: { attempts: 5, backoff: { initial: "100 millis", factor: 2, max: "2 seconds" } },
  handler: ({ code, fail_times }, ctx) =>
    ctx.attempt <= fail_times
      ? Effect.fail(
        ArcpError.of(code ?? "UNAVAILABLE", `flaky: attempt ${ctx.attempt} of the first ${fail_times} fails`)
      )
      : Effect.succeed({ attempts: ctx.attempt })
})

/**
 * `guarded {permission, resource, operation}`: asks for that permission (§15.4);
 * on grant the result is `{lease_id, permission, resource, operation, expires_at}`,
 * on deny (or no answer in time) the job fails PERMISSION_DENIED.
 */
export const guarded = Tools.make({
  name: "guarded",
  description: "Asks for a permission; returns the lease on grant, fails PERMISSION_DENIED on deny",
  parameters: Schema.Struct({
    permission: Schema.NonEmptyString,
    resource: Schema.NonEmptyString,
    operation: Schema.NonEmptyString
  }),
  handler: ({ operation, permission, resource }, ctx) =>
    Effect.map(
      ctx.requestPermission({
        permission,
        resource,
        operation,
        reason: `the guarded demo tool asks for ${permission}`
      }),
      (lease) => ({ ...lease })
    )
})

/**
 * `ask {prompt, expires_in_ms?, default?}`: a `human.input.request` whose answer must be an object
 * with a non-empty string `answer`, expiring after `expires_in_ms` (default 30 s); the result is the answer value.
 */
export const ask = Tools.make({
  name: "ask",
  description: "Asks a human for {answer}; returns the response value",
  parameters: Schema.Struct({
    prompt: Schema.String,
    expires_in_ms: Schema.optional(Schema.Number.pipe(Schema.int(), Schema.positive())),
    default: Schema.optional(Schema.Unknown)
  }),
  handler: ({ default: fallback, expires_in_ms, prompt }, ctx) =>
    ctx.askHuman({
      prompt,
      responseSchema: {
        type: "object",
        properties: { answer: { type: "string", minLength: 1 } },
        required: ["answer"]
      },
      ...(fallback !== undefined ? { default: fallback } : {}),
      expiresInSeconds: (expires_in_ms ?? 30_000) / 1000
    })
})

/** `choose {prompt, options: [ids]}`: a `human.choice.request` with those option ids; the result is `{choice_id}`. */
export const choose = Tools.make({
  name: "choose",
  description: "Asks a human to pick one of the option ids; returns {choice_id}",
  parameters: Schema.Struct({
    prompt: Schema.String,
    options: Schema.NonEmptyArray(Schema.NonEmptyString).pipe(
      Schema.filter((ids) => new Set(ids).size === ids.length || "option ids must be unique")
    )
  }),
  handler: ({ options, prompt }, ctx) =>
    Effect.map(
      ctx.askChoice({ prompt, options: options.map((id) => ({ id })), expiresInSeconds: 30 }),
      (choice_id) => ({ choice_id })
    )
})

/**
 * `delegate {remote, target, task?, arguments?, permissions_inherited?}`: delegates to the configured
 * remote runtime (`arcp serve --remotes`) with `agent.delegate` (§14); the result is the delegated job's.
 * Cancelling it cancels the delegated job.
 */
export const delegate = Tools.make({
  name: "delegate",
  description: "Delegates a task to a tool of a configured remote runtime; returns its result",
  parameters: Schema.Struct({
    remote: Schema.String,
    target: Schema.String,
    task: Schema.optional(Schema.String),
    arguments: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown })),
    permissions_inherited: Schema.optional(Schema.Array(Schema.String))
  }),
  handler: (args, ctx) =>
    ctx.delegate({
      remote: args.remote,
      target: args.target,
      task: args.task ?? `run ${args.target}`,
      arguments: args.arguments,
      permissionsInherited: args.permissions_inherited
    })
})

/** Every demo tool. */
export const all: ReadonlyArray<Tools.Tool> = [
  echo,
  ticker,
  stream,
  sleep,
  stubborn,
  fail,
  flaky,
  guarded,
  ask,
  choose,
  makeArtifact,
  delegate
]
