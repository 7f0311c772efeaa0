/**
 * Logical idempotency keys and envelope consistency (RFC §6.1.1, §6.3, §6.4),
 * over a real WebSocket on 127.0.0.1 and a real SQLite file: a key reused for
 * another command is refused; each repeat is answered as itself (its own
 * job.accepted and terminal), while the job runs and after it ended; the
 * clients settle every handle; a message naming no session or another one is
 * refused once the session is open.
 */
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Deferred, Effect, type Layer, Ref, type Scope, Stream } from "effect"
import { join } from "node:path"
import * as Client from "../../../src/client/Client.js"
import * as PromiseApi from "../../../src/client/promise/Promise.js"
import { make as makeEnvelope } from "../../../src/protocol/Envelope.js"
import { ArcpError } from "../../../src/protocol/Errors.js"
import { type Decoded, encodeUnchecked } from "../../../src/protocol/Message.js"
import { MAX_WAITING_REPEATS } from "../../../src/runtime/internal/Repeats.js"
import * as Tools from "../../../src/runtime/Tools.js"
import * as MemoryEventLog from "../../../src/store/MemoryEventLog.js"
import * as SqliteEventLog from "../../../src/store/SqliteEventLog.js"
import { spy } from "../../support/Dialer.js"
import {
  collectUntil,
  dial,
  field,
  makeCounter,
  open,
  serverLayer,
  TOKEN,
  untilPong,
  webSocket
} from "../../support/Harness.js"
import { tempDir } from "../../support/TempDir.js"

const dbFile = Effect.map(tempDir("arcp-idem-"), (dir) => join(dir, "events.db"))

/** Runs `body` against a WebSocket server (127.0.0.1, a free port) on a SQLite file, with the demo tools plus `tools`. */
const withServer = <A, E>(
  body: Effect.Effect<A, E, Scope.Scope | Layer.Layer.Success<ReturnType<typeof serverLayer>>>,
  tools: ReadonlyArray<Tools.Tool> = [],
  file?: string
) =>
  Effect.gen(function*() {
    const filename = file ?? (yield* dbFile)
    return yield* body.pipe(
      Effect.provide(serverLayer({
        transport: webSocket,
        // "memory": for a thousand keyed invokes on one connection, each awaiting its own durable claim on SQLite
        eventLog: filename === "memory" ? MemoryEventLog.layer : SqliteEventLog.layer({ filename }),
        tools
      }))
    )
  })

/** A tool that runs until the test opens its gate, counting its runs: a job that is still running, on demand. */
const makeGate = Effect.gen(function*() {
  const gate = yield* Deferred.make<void>()
  const runs = yield* Ref.make(0)
  const tool = Tools.make({
    name: "gated",
    parameters: Tools.AnyArguments,
    handler: (args) =>
      Ref.update(runs, (n) => n + 1).pipe(Effect.zipRight(Deferred.await(gate)), Effect.as({ released: args }))
  })
  return { gate, runs, tool, release: Deferred.succeed(gate, undefined) }
})

/** A client session plus its raw connection (frames sent exactly as given, with the session's id). */
const rawSession = Effect.gen(function*() {
  const connection = yield* dial
  const session = yield* Client.connect(connection, { credentials: { scheme: "bearer", token: TOKEN } })
  const messages = yield* session.messages
  return {
    connection,
    session,
    messages,
    sendRaw: (envelope: Decoded) => connection.send(encodeUnchecked({ ...envelope, session_id: session.id }))
  }
})

const isTerminal = (m: Decoded) => Client.terminalTypes.has(m.type)

/** Per correlation id, the distinct envelope ids of `type` (or of any terminal) that answered it. */
const answersBy = (messages: ReadonlyArray<Decoded>, jobId: string | undefined, kind: "job.accepted" | "terminal") => {
  const by = new Map<string, Set<string>>()
  for (const m of messages) {
    if (m.job_id !== jobId || m.correlation_id === undefined) continue
    if (kind === "terminal" ? !isTerminal(m) : m.type !== kind) continue
    const ids = by.get(m.correlation_id) ?? new Set<string>()
    ids.add(m.id)
    by.set(m.correlation_id, ids)
  }
  return new Map([...by].map(([k, v]) => [k, v.size]))
}

/** The terminals of `jobId` among `messages`, every envelope counted (a copy sent twice counts twice). */
const terminalsOf = (messages: ReadonlyArray<Decoded>, jobId: string | undefined) =>
  messages.filter((m) => m.job_id === jobId && isTerminal(m))

describe("a key reused for a different command (§6.4)", () => {
  it.scopedLive("R6.4-5 another tool or other arguments under a used key is refused ALREADY_EXISTS and runs nothing; the same command in any key order still gets the first outcome", () =>
    Effect.gen(function*() {
      const counter = yield* makeCounter
      yield* withServer(
        Effect.gen(function*() {
          const session = yield* open()
          const first = yield* session.invoke("count", { order: 4812, lines: [1, 2] }, { idempotency_key: "refund" })
          const outcome = yield* first.outcome
          // the same command, its keys in another order: the same job and outcome (canonical JSON)
          const same = yield* session.invoke("count", { lines: [1, 2], order: 4812 }, { idempotency_key: "refund" })
          assert.strictEqual(same.jobId, first.jobId)
          assert.deepStrictEqual(yield* same.outcome, outcome)
          const refusals = [
            yield* session.invoke("count", { order: 4813, lines: [1, 2] }, { idempotency_key: "refund" }).pipe(
              Effect.flip
            ),
            yield* session.invoke("echo", { order: 4812, lines: [1, 2] }, { idempotency_key: "refund" }).pipe(
              Effect.flip
            ),
            // from another connection of the same principal too
            yield* Effect.flatMap(open(), (other) => other.invoke("count", {}, { idempotency_key: "refund" })).pipe(
              Effect.flip
            )
          ]
          for (const refusal of refusals) {
            assert.instanceOf(refusal, ArcpError)
            if (refusal instanceof ArcpError) {
              assert.strictEqual(refusal.code, "ALREADY_EXISTS")
              assert.match(refusal.message, /idempotency_key "refund" was already used for a different command/)
            }
          }
          assert.strictEqual(yield* Ref.get(counter.count), 1, "nothing ran for the refused commands")
          // the nack names the refused invoke
          const messages = yield* session.messages
          const refused = yield* session.send("tool.invoke", { tool: "sleep", arguments: { ms: 1 } }, {
            idempotency_key: "refund"
          })
          const nack = (yield* collectUntil(messages, (m) => m.correlation_id === refused)).at(-1)
          assert.deepStrictEqual([nack?.type, field(nack, "code"), field(nack, "ack_for")], [
            "nack",
            "ALREADY_EXISTS",
            refused
          ])
          // another principal's key of the same name is its own
          const bob = yield* open({ credentials: { scheme: "bearer", token: "other-token" } })
          yield* (yield* bob.invoke("echo", { x: 1 }, { idempotency_key: "refund" })).outcome
        }),
        [counter.tool]
      )
    }))

  it.scopedLive("R6.4-5 R4.3-1 the digest survives a restart on the same SQLite file: the reused key is still refused, the same command still answered", () =>
    Effect.gen(function*() {
      const db = yield* dbFile
      const jobId = yield* Effect.scoped(withServer(
        Effect.gen(function*() {
          const session = yield* open()
          const job = yield* session.invoke("echo", { text: "hi" }, { idempotency_key: "nightly" })
          yield* job.outcome
          return job.jobId
        }),
        [],
        db
      ))
      yield* Effect.scoped(withServer(
        Effect.gen(function*() {
          const session = yield* open()
          const refused = yield* session.invoke("echo", { text: "ho" }, { idempotency_key: "nightly" }).pipe(
            Effect.flip
          )
          assert.strictEqual(refused instanceof ArcpError ? refused.code : refused._tag, "ALREADY_EXISTS")
          const again = yield* session.invoke("echo", { text: "hi" }, { idempotency_key: "nightly" })
          assert.strictEqual(again.jobId, jobId)
          assert.deepStrictEqual(yield* again.outcome, { text: "hi" })
        }),
        [],
        db
      ))
    }))
})

describe("a repeat is answered as itself (§6.3, §6.4)", () => {
  it.scopedLive("R6.4-6 R6.3-1 R6.1.1-3 while the job runs, each repeat (same connection or another session) gets one job.accepted and one terminal correlated to its own id", () =>
    Effect.gen(function*() {
      const gated = yield* makeGate
      yield* withServer(
        Effect.gen(function*() {
          const a = yield* rawSession
          const b = yield* rawSession
          const invoke = (s: Client.Session) =>
            s.send("tool.invoke", { tool: "gated", arguments: { n: 1 } }, { idempotency_key: "k-running" })
          const first = yield* invoke(a.session)
          const onA = yield* collectUntil(a.messages, (m) => m.type === "job.accepted" && m.correlation_id === first)
          const jobId = onA.at(-1)?.job_id
          const second = yield* invoke(a.session)
          const third = yield* invoke(b.session)
          onA.push(
            ...yield* collectUntil(a.messages, (m) => m.type === "job.accepted" && m.correlation_id === second)
          )
          const onB = yield* collectUntil(b.messages, (m) => m.type === "job.accepted" && m.correlation_id === third)
          assert.deepStrictEqual([...onA, ...onB].filter(isTerminal), [], "the job is still running")
          assert.strictEqual(onB.at(-1)?.job_id, jobId)
          yield* gated.release
          // each waits for its own terminal, then reads on to a ping's pong: anything extra would show
          onA.push(...yield* collectUntil(a.messages, (m) => isTerminal(m) && m.correlation_id === first))
          onA.push(...yield* collectUntil(a.messages, (m) => isTerminal(m) && m.correlation_id === second))
          onA.push(...yield* untilPong(a.session, a.messages))
          onB.push(...yield* collectUntil(b.messages, (m) => isTerminal(m) && m.correlation_id === third))
          onB.push(...yield* untilPong(b.session, b.messages))
          assert.deepStrictEqual(answersBy(onA, jobId, "job.accepted"), new Map([[first, 1], [second, 1]]))
          assert.deepStrictEqual(answersBy(onA, jobId, "terminal"), new Map([[first, 1], [second, 1]]))
          assert.strictEqual(terminalsOf(onA, jobId).length, 2, "one terminal per invoke on this connection")
          assert.deepStrictEqual(answersBy(onB, jobId, "job.accepted"), new Map([[third, 1]]))
          assert.deepStrictEqual(answersBy(onB, jobId, "terminal"), new Map([[third, 1]]))
          assert.strictEqual(terminalsOf(onB, jobId).length, 1, "not the first invoke's terminal as well")
          for (const t of [...terminalsOf(onA, jobId), ...terminalsOf(onB, jobId)]) {
            assert.deepStrictEqual([t.type, t.payload], ["tool.result", { value: { released: { n: 1 } } }])
          }
          assert.isTrue(onB.every((m) => m.session_id === b.session.id), "addressed to b's own session")
          assert.strictEqual(yield* Ref.get(gated.runs), 1)
        }),
        [gated.tool]
      )
    }))

  it.scopedLive("R6.4-6 R6.4-2 after the job ended, ten repeats on one connection get ten answers, one per invoke id; a retransmitted repeat or first invoke replays only its own", () =>
    Effect.gen(function*() {
      const counter = yield* makeCounter
      yield* withServer(
        Effect.gen(function*() {
          const { messages, sendRaw, session } = yield* rawSession
          const original = yield* makeEnvelope("tool.invoke", { tool: "count", arguments: {} }, {
            idempotency_key: "k-done"
          })
          yield* sendRaw(original)
          const firstRun = yield* collectUntil(messages, isTerminal)
          const jobId = firstRun[0]?.job_id
          const repeats: Array<Decoded> = []
          for (let i = 0; i < 10; i++) {
            repeats.push(
              yield* makeEnvelope("tool.invoke", { tool: "count", arguments: {} }, { idempotency_key: "k-done" })
            )
          }
          for (const repeat of repeats) yield* sendRaw(repeat)
          const answered = new Set<string>()
          const seen = yield* collectUntil(messages, (m) => {
            if (isTerminal(m) && m.correlation_id !== undefined) answered.add(m.correlation_id)
            return answered.size === repeats.length
          })
          seen.push(...yield* untilPong(session, messages))
          const each = new Map(repeats.map((r) => [r.id, 1]))
          assert.deepStrictEqual(answersBy(seen, jobId, "job.accepted"), each)
          assert.deepStrictEqual(answersBy(seen, jobId, "terminal"), each)
          assert.strictEqual(terminalsOf(seen, jobId).length, 10, "no copies beyond one per repeat")
          assert.deepStrictEqual(
            new Set(terminalsOf(seen, jobId).map((t) => JSON.stringify(t.payload))),
            new Set([JSON.stringify(firstRun.at(-1)?.payload)])
          )
          // a retransmitted repeat: its own two answers again (same envelopes), none of the job's or others'
          const repeat = repeats[3]
          if (repeat === undefined) return assert.fail("no repeat")
          yield* sendRaw(repeat)
          const replayed = yield* untilPong(session, messages)
          const ofJob = replayed.filter((m) => m.job_id === jobId)
          assert.deepStrictEqual(ofJob.map((m) => [m.type, m.correlation_id]), [
            ["job.accepted", repeat.id],
            ["tool.result", repeat.id]
          ])
          const firstAnswers = seen.filter((m) => m.correlation_id === repeat.id).map((m) => m.id)
          assert.deepStrictEqual(ofJob.map((m) => m.id), firstAnswers, "the very envelopes it got")
          // a retransmitted first invoke: the job's own events, not the repeats' answers
          yield* sendRaw(original)
          const again = (yield* untilPong(session, messages)).filter((m) => m.job_id === jobId)
          assert.deepStrictEqual(
            again.map((m) => m.id),
            firstRun.filter((m) => m.job_id === jobId).map((m) => m.id)
          )
          assert.strictEqual(yield* Ref.get(counter.count), 1)
        }),
        [counter.tool]
      )
    }))

  it.scopedLive("R6.4-6 a repeat retransmitted from a new connection while the job runs is answered there, once", () =>
    Effect.gen(function*() {
      const gated = yield* makeGate
      yield* withServer(
        Effect.gen(function*() {
          const a = yield* rawSession
          yield* a.session.send("tool.invoke", { tool: "gated", arguments: {} }, { idempotency_key: "k-moved" })
          yield* collectUntil(a.messages, (m) => m.type === "job.accepted")
          const b = yield* rawSession
          const repeat = yield* makeEnvelope("tool.invoke", { tool: "gated", arguments: {} }, {
            idempotency_key: "k-moved"
          })
          yield* b.sendRaw(repeat)
          const accepted = (yield* collectUntil(b.messages, (m) => m.type === "job.accepted")).at(-1)
          yield* b.session.close()
          const c = yield* rawSession
          yield* c.sendRaw(repeat)
          // the retransmit replays its job.accepted (same envelope) and waits for the terminal with it
          const replayed = (yield* collectUntil(c.messages, (m) => m.type === "job.accepted")).at(-1)
          assert.strictEqual(replayed?.id, accepted?.id)
          yield* c.sendRaw(repeat) // a second retransmit on the same connection adds no second terminal
          yield* untilPong(c.session, c.messages)
          yield* gated.release
          const onC = yield* collectUntil(c.messages, isTerminal)
          onC.push(...yield* untilPong(c.session, c.messages))
          assert.deepStrictEqual(terminalsOf(onC, accepted?.job_id).map((t) => [t.correlation_id, t.session_id]), [
            [repeat.id, c.session.id]
          ])
        }),
        [gated.tool]
      )
    }))
  it.scopedLive("R6.4-6 R6.4-2 a repeat watching a job whose own session went away: the job's terminal is still logged, so a retransmit of the first invoke replays it", () =>
    Effect.gen(function*() {
      const gated = yield* makeGate
      yield* withServer(
        Effect.gen(function*() {
          const a = yield* rawSession
          const first = yield* makeEnvelope("tool.invoke", { tool: "gated", arguments: {} }, {
            idempotency_key: "k-orphaned"
          })
          yield* a.sendRaw(first)
          const jobId = (yield* collectUntil(a.messages, (m) => m.type === "job.accepted")).at(-1)?.job_id
          yield* a.session.close({ dispose_jobs: "detach" })
          const b = yield* rawSession
          const repeat = yield* b.session.send("tool.invoke", { tool: "gated", arguments: {} }, {
            idempotency_key: "k-orphaned"
          })
          yield* collectUntil(b.messages, (m) => m.type === "job.accepted")
          yield* gated.release
          const onB = yield* collectUntil(b.messages, isTerminal)
          onB.push(...yield* untilPong(b.session, b.messages))
          assert.deepStrictEqual(terminalsOf(onB, jobId).map((t) => t.correlation_id), [repeat])
          // the first invoke, retransmitted from a new session, replays the job's events, its own terminal included
          const c = yield* rawSession
          yield* c.sendRaw(first)
          const replayed = yield* collectUntil(c.messages, isTerminal)
          assert.deepStrictEqual(terminalsOf(replayed, jobId).map((t) => [t.type, t.correlation_id]), [[
            "tool.result",
            first.id
          ]])
        }),
        [gated.tool]
      )
    }))

  it.scopedLive(
    "R6.4-6 repeats waiting on one running job are bounded: past 1024 a repeat is refused RESOURCE_EXHAUSTED; the others are all answered",
    () =>
      Effect.gen(function*() {
        const gated = yield* makeGate
        yield* withServer(
          Effect.gen(function*() {
            const { messages, sendRaw, session } = yield* rawSession
            const invoke = () =>
              makeEnvelope("tool.invoke", { tool: "gated", arguments: {} }, { idempotency_key: "k-many" })
            const first = yield* invoke()
            yield* sendRaw(first)
            const jobId = (yield* collectUntil(messages, (m) => m.type === "job.accepted")).at(-1)?.job_id
            const repeats: Array<Decoded> = []
            for (let i = 0; i <= MAX_WAITING_REPEATS; i++) repeats.push(yield* invoke())
            for (const repeat of repeats) yield* sendRaw(repeat)
            const last = repeats.at(-1)?.id
            const upToLast = yield* collectUntil(messages, (m) => m.correlation_id === last)
            const refusal = upToLast.at(-1)
            assert.deepStrictEqual([refusal?.type, field(refusal, "code")], ["nack", "RESOURCE_EXHAUSTED"])
            assert.strictEqual(upToLast.filter((m) => m.type === "job.accepted").length, MAX_WAITING_REPEATS)
            yield* gated.release
            const answered = new Set<string>()
            yield* collectUntil(messages, (m) => {
              if (isTerminal(m) && m.correlation_id !== undefined) answered.add(m.correlation_id)
              return answered.size === MAX_WAITING_REPEATS + 1
            })
            assert.isFalse(answered.has(last ?? ""), "the refused repeat got no terminal")
            assert.isTrue(answered.has(first.id))
            // once the job has ended, a repeat is answered at once again
            const after = yield* invoke()
            yield* sendRaw(after)
            const late = yield* collectUntil(messages, (m) => isTerminal(m) && m.correlation_id === after.id)
            assert.strictEqual(late.at(-1)?.job_id, jobId)
            yield* untilPong(session, messages)
          }),
          [gated.tool],
          "memory"
        )
      }),
    30_000
  )
})

describe("the clients settle every handle of a repeated key (§6.4)", () => {
  it.scopedLive("R6.4-4 Effect client: an invoke repeating a running job's key resolves with its job and outcome; two handles on one client and one on another all settle", () =>
    Effect.gen(function*() {
      const gated = yield* makeGate
      yield* withServer(
        Effect.gen(function*() {
          const session = yield* open()
          const first = yield* session.invoke("gated", { v: 7 }, { idempotency_key: "k-client" })
          const second = yield* session.invoke("gated", { v: 7 }, { idempotency_key: "k-client" })
          const elsewhere = yield* Effect.flatMap(
            open(),
            (s) => s.invoke("gated", { v: 7 }, { idempotency_key: "k-client" })
          )
          assert.deepStrictEqual([second.jobId, elsewhere.jobId], [first.jobId, first.jobId])
          const outcomes = yield* Effect.all([first.outcome, second.outcome, elsewhere.outcome], {
            concurrency: "unbounded"
          }).pipe(Effect.fork)
          yield* gated.release
          assert.deepStrictEqual(yield* outcomes.await.pipe(Effect.flatten), [
            { released: { v: 7 } },
            { released: { v: 7 } },
            { released: { v: 7 } }
          ])
          // each handle's events end with exactly one terminal
          for (const handle of [first, second, elsewhere]) {
            const events = Chunk.toReadonlyArray(yield* Stream.runCollect(handle.events))
            assert.strictEqual(events.filter(isTerminal).length, 1)
          }
          assert.strictEqual(yield* Ref.get(gated.runs), 1)
        }),
        [gated.tool]
      )
    }))

  it.scopedLive("R6.4-4 R6.4-6 twenty sessions invoking one key at once: one run, one job id, every handle settles with its outcome", () =>
    Effect.gen(function*() {
      const gated = yield* makeGate
      yield* withServer(
        Effect.gen(function*() {
          const sessions = yield* Effect.all(Array.from({ length: 20 }, () => open()), { concurrency: "unbounded" })
          const handles = yield* Effect.all(
            sessions.map((s) => s.invoke("gated", { burst: true }, { idempotency_key: "k-burst" })),
            { concurrency: "unbounded" }
          )
          assert.strictEqual(new Set(handles.map((h) => h.jobId)).size, 1)
          yield* gated.release
          const outcomes = yield* Effect.all(handles.map((h) => h.outcome), { concurrency: "unbounded" })
          assert.deepStrictEqual(
            new Set(outcomes.map((o) => JSON.stringify(o))),
            new Set(["{\"released\":{\"burst\":true}}"])
          )
          assert.strictEqual(yield* Ref.get(gated.runs), 1)
        }),
        [gated.tool]
      )
    }))

  it(
    "R6.4-4 Promise adapter: two invokes with one key on one client both resolve, while the job is still running when the second returns",
    async () => {
      let release: () => void = () => undefined
      const released = new Promise<void>((resolve) => {
        release = resolve
      })
      let runs = 0
      const gated = PromiseApi.tool({
        name: "gated",
        parameters: PromiseApi.AnyArguments,
        handler: async (args) => {
          runs++
          await released
          return { released: args }
        }
      })
      const server = await PromiseApi.createServer({
        port: 0,
        logLevel: "none",
        auth: { bearer: new Map([["t", "alice"]]) },
        tools: [gated]
      })
      try {
        const session = await PromiseApi.connect(server.address, { credentials: { scheme: "bearer", token: "t" } })
        const first = await session.invoke("gated", { v: 1 }, { idempotencyKey: "k-promise" })
        const second = await session.invoke("gated", { v: 1 }, { idempotencyKey: "k-promise" })
        assert.strictEqual(second.jobId, first.jobId)
        assert.strictEqual(runs, 1, "the job is running, once")
        release()
        assert.deepStrictEqual(await Promise.all([first.result, second.result]), [
          { released: { v: 1 } },
          { released: { v: 1 } }
        ])
        const refused = await session.invoke("gated", { v: 2 }, { idempotencyKey: "k-promise" }).then(
          () => undefined,
          (e: unknown) => e
        )
        assert.strictEqual(refused instanceof PromiseApi.ArcpError ? refused.code : "", "ALREADY_EXISTS")
        await session.close()
      } finally {
        await server.close()
      }
    },
    20_000
  )
})

describe("the envelope session_id once the session is open (§6.1.1)", () => {
  it.scopedLive("R6.1-1 R6.3-3 a message with no session_id or another session's is refused INVALID_ARGUMENT, not run and not recorded; resume may name another session; the session carries on", () =>
    Effect.gen(function*() {
      const counter = yield* makeCounter
      yield* withServer(
        Effect.gen(function*() {
          const { connection, messages, session } = yield* rawSession
          const other = yield* open()
          const send = (envelope: Decoded) => connection.send(encodeUnchecked(envelope))
          const invoke = yield* makeEnvelope("tool.invoke", { tool: "count", arguments: {} })
          const expectRefusal = (id: string, reason: string) =>
            Effect.map(collectUntil(messages, (m) => m.correlation_id === id), (seen) => {
              const nack = seen.at(-1)
              assert.deepStrictEqual(
                [nack?.type, field(nack, "code"), Reflect.get(Object(field(nack, "details")), "reason")],
                ["nack", "INVALID_ARGUMENT", reason]
              )
              assert.include(String(field(nack, "message")), session.id)
              assert.strictEqual(nack?.session_id, session.id)
            })
          yield* send(invoke) // no session_id at all
          yield* expectRefusal(invoke.id, "session_id_missing")
          yield* send({ ...invoke, session_id: other.id })
          yield* expectRefusal(invoke.id, "session_id_mismatch")
          const ping = yield* makeEnvelope("ping", {}, { session_id: other.id })
          yield* send(ping)
          yield* expectRefusal(ping.id, "session_id_mismatch")
          assert.strictEqual(yield* Ref.get(counter.count), 0, "nothing ran")
          // a nack naming another session is dropped, not answered with a nack
          yield* send(
            yield* makeEnvelope("nack", { code: "INTERNAL", message: "x" }, { session_id: other.id })
          )
          const quiet = yield* untilPong(session, messages)
          assert.deepStrictEqual(quiet.map((m) => m.type), ["pong"])
          // resume names the session it resumes: it passes the gate, and is refused for what it asks (another
          // session is taken back with session.open naming it, §9)
          const resume = yield* makeEnvelope("resume", {}, { session_id: other.id })
          yield* send(resume)
          const answer = (yield* collectUntil(messages, (m) => m.correlation_id === resume.id)).at(-1)
          assert.deepStrictEqual([answer?.type, field(answer, "code")], ["nack", "FAILED_PRECONDITION"])
          // the refused id was not recorded: sent correctly, it runs (it is not a duplicate)
          yield* send({ ...invoke, session_id: session.id })
          const ran = yield* collectUntil(messages, (m) => isTerminal(m) && m.correlation_id === invoke.id)
          assert.deepStrictEqual(ran.at(-1)?.payload, { value: { runs: 1 } })
          assert.strictEqual(yield* Ref.get(counter.count), 1)
        }),
        [counter.tool]
      )
    }))

  it.scopedLive("R6.1-1 the bundled client sends session_id on every message after acceptance", () =>
    withServer(Effect.gen(function*() {
      const watched = spy(yield* dial)
      const session = yield* Client.connect(watched.connection, { credentials: { scheme: "bearer", token: TOKEN } })
      yield* session.ping
      const job = yield* session.invoke("sleep", { ms: 60_000 }, { idempotency_key: "k-spy" })
      yield* job.cancel()
      yield* job.outcome.pipe(Effect.ignore)
      yield* session.request("ping", {})
      yield* session.close()
      const sent = watched.seen.filter((s) => s.direction === "out")
      assert.deepStrictEqual(sent[0]?.type, "session.open")
      assert.isAtLeast(sent.length, 5)
      assert.deepStrictEqual(
        sent.slice(1).filter((s) => s.sessionId !== session.id).map((s) => s.type),
        [],
        `every message after session.open names ${session.id}`
      )
    })))
})
