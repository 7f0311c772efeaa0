/**
 * Keep it found (issue 7): random and mutated frames, before and after the
 * handshake, over the memory transport. Whatever arrives: no defect (nothing
 * logged at error level, no die in any cause), the session still answers a
 * ping, and nothing runs that should have been refused — before
 * `session.accepted` nothing runs at all; after it, every job traces back to a
 * frame that is a well-formed `tool.invoke`, and no nacked message started one.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Either, Layer, Logger, LogLevel, Ref } from "effect"
import fc from "fast-check"
import { make as makeEnvelope, speaksVersion } from "../../../src/protocol/Envelope.js"
import { validateFieldName } from "../../../src/protocol/Extensions.js"
import { SessionId } from "../../../src/protocol/Ids.js"
import { type Decoded, decodeJson, encodeUnchecked } from "../../../src/protocol/Message.js"
import * as Auth from "../../../src/runtime/auth/Auth.js"
import * as Runtime from "../../../src/runtime/Runtime.js"
import * as Tools from "../../../src/runtime/Tools.js"
import * as MemoryArtifactStore from "../../../src/store/MemoryArtifactStore.js"
import * as MemoryEventLog from "../../../src/store/MemoryEventLog.js"
import * as Memory from "../../../src/transport/Memory.js"
import { reader } from "../../support/CoreServer.js"
import { field } from "../../support/Harness.js"

/** Frames the fuzzer starts from: one of each kind a client may send, some it may not. */
const templates: ReadonlyArray<Record<string, unknown>> = [
  { type: "ping", payload: {} },
  { type: "tool.invoke", payload: { tool: "count", arguments: {} } },
  { type: "tool.invoke", payload: { tool: "count", arguments: { n: 1 } }, idempotency_key: "key-1" },
  { type: "tool.invoke", payload: { tool: "nothing-by-that-name", arguments: {} } },
  { type: "cancel", payload: { target: "job", target_id: "job_x" } },
  { type: "cancel", payload: { target: "stream", target_id: "str_x" } },
  { type: "interrupt", payload: { target: "job", target_id: "job_x" } },
  { type: "human.input.response", payload: { value: { a: 1 }, responded_by: "fuzz" }, correlation_id: "msg_x" },
  { type: "session.authenticate", payload: { challenge_id: "chal_x", response: "token" } },
  { type: "ack", payload: { ack_for: "msg_x" } },
  { type: "nack", payload: { code: "INTERNAL", message: "x" } },
  { type: "job.started", payload: { job_id: "job_x", started_at: "2026-05-09T13:00:00Z" }, job_id: "job_x" },
  { type: "subscribe", payload: {} },
  { type: "resume", payload: { session_id: "sess_x" } },
  { type: "arcpx.acme.thing.v1", payload: {} },
  { type: "arcpx.acme.thing.v1", payload: {}, extensions: { optional: true } }
]

const ENVELOPE_KEYS = [
  "arcp",
  "id",
  "type",
  "timestamp",
  "payload",
  "session_id",
  "job_id",
  "correlation_id",
  "priority"
]

/** A value nested `levels` deep (past the 64 limit or not). */
const nested = fc.integer({ min: 1, max: 300 }).map((levels) => {
  let value: unknown = 0
  for (let i = 0; i < levels; i++) value = i % 2 === 0 ? [value] : { k: value }
  return value
})
const anyValue = fc.oneof(fc.jsonValue({ maxDepth: 4 }), nested, fc.constantFrom("9.9", "1.7", "x-", "", null))

type Mutation = (frame: Record<string, unknown>) => Record<string, unknown>
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.tuple(fc.constantFrom(...ENVELOPE_KEYS), anyValue).map(([key, value]): Mutation => (f) => ({
    ...f,
    [key]: value
  })),
  fc.constantFrom(...ENVELOPE_KEYS).map((key): Mutation => (f) =>
    Object.fromEntries(Object.entries(f).filter(([k]) => k !== key))
  ),
  fc.tuple(fc.string({ maxLength: 12 }), anyValue).map(([key, value]): Mutation => (f) => ({
    ...f,
    payload: { ...Object(f["payload"]), [key]: value }
  })),
  fc.constantFrom("9.9", "1.7", "0.1", "2.0").map((arcp): Mutation => (f) => ({ ...f, arcp })),
  fc.dictionary(fc.constantFrom("x-debug", "optional", "arcpx.acme.flag", "bad key"), fc.jsonValue({ maxDepth: 2 }))
    .map((extensions): Mutation => (f) => ({ ...f, extensions }))
)

/** How the text of a frame is spoiled after encoding (or not). */
type Spoil = (text: string) => string
const spoil: fc.Arbitrary<Spoil> = fc.oneof(
  { weight: 3, arbitrary: fc.constant<Spoil>((t) => t) },
  fc.nat().map((n): Spoil => (t) => t.slice(0, n % (t.length + 1))),
  fc.tuple(fc.nat(), fc.string({ maxLength: 4 })).map(([n, s]): Spoil => (t) => {
    const at = n % (t.length + 1)
    return t.slice(0, at) + s + t.slice(at)
  })
)

/** One frame: a mutated template, a random JSON value, random text, or deep nesting. */
const frame = (index: number): fc.Arbitrary<string> =>
  fc.oneof(
    {
      weight: 6,
      arbitrary: fc.tuple(
        fc.constantFrom(...templates),
        fc.oneof(fc.constant([]), fc.array(mutation, { minLength: 1, maxLength: 3 })),
        spoil
      ).map(
        ([template, mutations, spoilText]) => {
          const base: Record<string, unknown> = {
            arcp: "1.0",
            id: `msg_fuzz_${index}`,
            session_id: SESSION,
            timestamp: "2026-05-09T13:00:00Z",
            ...template
          }
          return spoilText(JSON.stringify(mutations.reduce((f, m) => m(f), base)))
        }
      )
    },
    { weight: 1, arbitrary: fc.json({ maxDepth: 3 }) },
    { weight: 1, arbitrary: fc.string({ maxLength: 64 }) },
    { weight: 1, arbitrary: fc.integer({ min: 60, max: 5000 }).map((n) => "[".repeat(n) + "]".repeat(n)) }
  )

/** A list of frames; frames that would legitimately end the session (its close, its cancel) become pings. */
const frames = fc.integer({ min: 1, max: 30 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => frame(i))))
  .map((texts) =>
    texts.map((text) => {
      const parsed = decodeJson(text, { maxDepth: 64 })
      const ends = Either.isRight(parsed) &&
        (parsed.right.type === "session.close" ||
          (parsed.right.type === "cancel" && field(parsed.right, "target") === "session"))
      return ends
        ? JSON.stringify({ ...templates[0], arcp: "1.0", id: "msg_was_close", timestamp: "2026-05-09T13:00:00Z" })
        : text
    })
  )

/** Stands for the session's id in generated frames; replaced when they are sent (mutations may spoil it). */
const SESSION = "__session__"

/** True when the runtime should run this frame: a well-formed tool.invoke of `count` of this session, in a version it speaks. */
const runnable = (text: string, sessionId: string): string | undefined => {
  const decoded = decodeJson(text, { maxDepth: 64 })
  if (Either.isLeft(decoded)) return undefined
  const m = decoded.right
  const extensionsOk = Object.keys(m.extensions ?? {}).every((k) =>
    Either.isRight(validateFieldName(k, { allowExperimental: false }))
  )
  return m.type === "tool.invoke" && speaksVersion(m.arcp) && extensionsOk && field(m, "tool") === "count" &&
      m.session_id === sessionId
    ? m.id
    : undefined
}

/** The runtime with one tool that counts its runs, and a logger that keeps every error and defect. */
const makeServer = Effect.gen(function*() {
  const runs = yield* Ref.make(0)
  const problems: Array<string> = []
  const keeper = Logger.make(({ cause, logLevel, message }) => {
    if (LogLevel.greaterThanEqual(logLevel, LogLevel.Error) || Cause.isDie(cause)) {
      problems.push(`${logLevel.label} ${String(message)} ${Cause.pretty(cause).slice(0, 500)}`)
    }
  })
  const count = Tools.make({
    name: "count",
    parameters: Tools.AnyArguments,
    handler: () => Ref.updateAndGet(runs, (n) => n + 1)
  })
  const layer = Runtime.serve.pipe(
    Layer.provideMerge(Runtime.layer()),
    Layer.provide(Layer.mergeAll(
      Auth.layer({ audience: "arcp://runtime", bearer: new Map([["fuzz-token", "fuzzer"]]) }),
      Tools.layer([count]),
      MemoryEventLog.layer,
      MemoryArtifactStore.layer
    )),
    Layer.provideMerge(Memory.layer()),
    Layer.provide(Logger.replace(Logger.defaultLogger, keeper))
  )
  return { runs, problems, layer }
})

/** Sends `texts`, then a ping, and returns everything received up to its pong (failing if none comes). */
const sendAndPing = (
  connection: { readonly send: (text: string) => Effect.Effect<void, unknown> },
  read: { readonly next: Effect.Effect<Decoded> },
  texts: ReadonlyArray<string>,
  sessionId: string | undefined
) =>
  Effect.gen(function*() {
    for (const text of texts) yield* connection.send(text)
    const ping = yield* makeEnvelope(
      "ping",
      {},
      sessionId === undefined ? {} : { session_id: SessionId.make(sessionId) }
    )
    yield* connection.send(encodeUnchecked(ping))
    const seen: Array<Decoded> = []
    while (true) {
      const m = yield* read.next.pipe(Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => "no pong" }))
      seen.push(m)
      if (m.type === "pong" && m.correlation_id === ping.id) return seen
    }
  })

describe("fuzzed frames over the memory transport", () => {
  it.live.prop(
    "R21.3-3 R8.1-2 no defect, the session answers ping, and nothing refused runs (before and after the handshake)",
    [frames, frames],
    ([before, after]) =>
      Effect.scoped(Effect.gen(function*() {
        const server = yield* makeServer
        yield* Effect.gen(function*() {
          const network = yield* Memory.MemoryNetwork
          const connection = yield* network.connect
          const read = yield* reader(connection)
          // before the handshake: nothing may run, and the connection still opens a session afterwards
          for (const text of before) yield* connection.send(text)
          const open = yield* makeEnvelope("session.open", {
            auth: { scheme: "bearer", token: "fuzz-token" },
            client: { kind: "fuzz", version: "1" },
            capabilities: {}
          })
          yield* connection.send(encodeUnchecked(open))
          const early: Array<Decoded> = []
          let accepted: Decoded | undefined
          while (accepted === undefined) {
            const m = yield* read.next.pipe(
              Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => "no answer" })
            )
            if (m.type === "session.accepted" && m.correlation_id === open.id) accepted = m
            else early.push(m)
          }
          assert.deepStrictEqual(early.filter((m) => m.type !== "nack").map((m) => m.type), [], "only nacks before")
          assert.strictEqual(yield* Ref.get(server.runs), 0, "nothing ran before session.accepted")
          // after it
          const sessionId = String(field(accepted, "session_id"))
          const sent = after.map((text) => text.replaceAll(SESSION, sessionId))
          const seen = yield* sendAndPing(connection, read, sent, sessionId)
          const runnableIds = new Set(sent.flatMap((t) => runnable(t, sessionId) ?? []))
          const jobs = seen.filter((m) => m.type === "job.accepted")
          for (const job of jobs) {
            assert.isTrue(
              runnableIds.has(job.correlation_id ?? ""),
              `job for ${job.correlation_id}, not a valid invoke`
            )
          }
          const nacked = new Set(seen.filter((m) => m.type === "nack").map((m) => m.correlation_id))
          assert.isFalse(jobs.some((m) => nacked.has(m.correlation_id)), "a nacked message started a job")
          // every run is one of those jobs (a job still running has not counted yet)
          assert.isAtMost(yield* Ref.get(server.runs), new Set(jobs.map((m) => m.job_id)).size)
        }).pipe(Effect.provide(server.layer))
        assert.deepStrictEqual(server.problems, [], "no error or defect was logged")
      })),
    { timeout: 120_000, fastCheck: { numRuns: 40 } }
  )
})
