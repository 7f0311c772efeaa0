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

/** The last tick a resumed ticker delivered: its checkpoint's, or a later tick logged after it. */
const lastTick = (restored: Tools.Restored | undefined): number => {
  if (restored === undefined) return 0
  const snapshot: unknown = restored.snapshot
  let last = typeof snapshot === "object" && snapshot !== null && typeof Reflect.get(snapshot, "current") === "number"
    ? Number(Reflect.get(snapshot, "current"))
    : 0
  for (const event of restored.since) {
    const current: unknown = event.type === "job.progress" && typeof event.payload === "object" &&
        event.payload !== null
      ? Reflect.get(event.payload, "current")
      : undefined
    if (typeof current === "number" && current > last) last = current
  }
  return last
}

/**
 * `ticker {count, interval_ms?}`: `count` progress events (current/total), each followed by a
 * checkpoint `{current}`, then `{count}`. Resumable (§4.3): after a restart it goes on after the
 * last tick it delivered, so every tick arrives exactly once.
 */
export const ticker = Tools.make({
  name: "ticker",
  description: "Emits count job.progress events, interval_ms apart, with a checkpoint after each; resumable",
  parameters: Schema.Struct({
    count: Schema.Number.pipe(Schema.int(), Schema.between(0, 100_000)),
    interval_ms: Schema.optional(Schema.Number.pipe(Schema.int(), Schema.nonNegative()))
  }),
  resume: "rerun",
  handler: Effect.fnUntraced(function*({ count, interval_ms }, ctx) {
    for (let current = lastTick(ctx.restored) + 1; current <= count; current++) {
      if (interval_ms !== undefined && interval_ms > 0) yield* Effect.sleep(Duration.millis(interval_ms))
      yield* ctx.progress({ current, total: count, percent: count === 0 ? 100 : Math.round((current / count) * 100) })
      yield* ctx.checkpoint({ current })
    }
    return { count }
  })
})

/** The stream kinds `stream` writes: text and log lines, thought chunks, binary bytes. */
const DemoStreamKind = Schema.Literal("text", "log", "thought", "binary")

/**
 * `stream {kind, chunks: [string...], interval_ms?}`: opens a stream of `kind` and sends one
 * stream.chunk per string, `interval_ms` apart — text and log: the string as `data` (a log chunk
 * also carries it as `log`); thought: a structured chunk with `redacted: false` (§11.4); binary: the
 * string's UTF-8 bytes, base64 with a `content_type` (§11.3) — then closes the stream and returns
 * `{chunks: <count>}`. `chunks` may also be a count (`"chunk N of M"` lines, for load tests) and
 * `kind` defaults to text. A client may cancel the stream alone (§10.4): the tool stops writing and
 * still returns the count written.
 */
export const stream = Tools.make({
  name: "stream",
  description:
    "Sends one stream.chunk of kind (text, log, thought, binary) per string of chunks, then closes the stream",
  parameters: Schema.Struct({
    kind: Schema.optional(DemoStreamKind),
    chunks: Schema.Union(
      Schema.Array(Schema.String).pipe(Schema.maxItems(100_000)),
      Schema.Number.pipe(Schema.int(), Schema.between(0, 100_000))
    ),
    interval_ms: Schema.optional(Schema.Number.pipe(Schema.int(), Schema.nonNegative()))
  }),
  handler: Effect.fnUntraced(function*({ chunks, interval_ms, kind }, ctx) {
    const total = typeof chunks === "number" ? chunks : chunks.length
    const textOf = (n: number) => typeof chunks === "number" ? `chunk ${n + 1} of ${total}\n` : chunks[n] ?? ""
    const send = yield* openDemoStream(ctx, kind ?? "text")
    let written = 0
    yield* Effect.gen(function*() {
      for (let n = 0; n < total; n++) {
        if (interval_ms !== undefined && interval_ms > 0) yield* Effect.sleep(Duration.millis(interval_ms))
        yield* send.write(textOf(n))
        written = n + 1
      }
      yield* send.close
      // the client cancelled the stream, not the job: stop writing and finish normally
    }).pipe(Effect.catchIf((e) => e.code === "CANCELLED", () => Effect.void))
    return { chunks: written }
  })
})

/** Opens the demo stream of `kind`; its `write` takes the chunk's string. */
const openDemoStream = Effect.fnUntraced(function*(ctx: Tools.ToolContext, kind: typeof DemoStreamKind.Type) {
  switch (kind) {
    case "binary": {
      const writer = yield* ctx.stream({ kind: "binary", content_type: "application/octet-stream" })
      const bytes = new TextEncoder()
      return { write: (s: string) => writer.write(bytes.encode(s)), close: writer.close() }
    }
    case "log": {
      const writer = yield* ctx.stream({ kind: "log", content_type: "text/plain" })
      return { write: (s: string) => writer.write(s), close: writer.close() }
    }
    case "thought": {
      const writer = yield* ctx.stream({ kind: "thought", content_type: "text/plain" })
      return { write: (s: string) => writer.write({ content: s, redacted: false }), close: writer.close() }
    }
    case "text": {
      const writer = yield* ctx.stream({ kind: "text", content_type: "text/plain" })
      return { write: (s: string) => writer.write(s), close: writer.close() }
    }
  }
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
