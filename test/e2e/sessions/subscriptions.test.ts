/**
 * Subscriptions (RFC §13) end to end: one connection runs jobs, another
 * observes them — over a real WebSocket with the memory log and a real SQLite
 * file; authorization and observer grants; unsubscribe; subscribe.closed on
 * eviction and overflow; human input fan-out (§12.3); redacted thoughts (§11.4).
 */
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Either, Queue, type Scope, Stream } from "effect"
import { join } from "node:path"
import * as Client from "../../../src/client/Client.js"
import { isBackfillComplete } from "../../../src/client/session/Subscription.js"
import { make as makeEnvelope } from "../../../src/protocol/Envelope.js"
import { CheckpointId, MessageId, SessionId, SubscriptionId } from "../../../src/protocol/Ids.js"
import { type Decoded, decodeJson, encodeUnchecked } from "../../../src/protocol/Message.js"
import type { ObserveGrant } from "../../../src/runtime/events/Observation.js"
import type * as RuntimeConfig from "../../../src/runtime/RuntimeConfig.js"
import { Sessions } from "../../../src/runtime/Sessions.js"
import * as Tools from "../../../src/runtime/Tools.js"
import * as MemoryEventLog from "../../../src/store/MemoryEventLog.js"
import * as SqliteEventLog from "../../../src/store/SqliteEventLog.js"
import type { Connection } from "../../../src/transport/Transport.js"
import { collectUntil, dial, field, memory, open, serverLayer, TOKEN, webSocket } from "../../support/Harness.js"
import { tempDir } from "../../support/TempDir.js"

const terminal = (m: Decoded) => Client.terminalTypes.has(m.type)
const code = (e: { readonly _tag: string; readonly code?: string | undefined }) =>
  e._tag === "ArcpError" ? e.code : e._tag

/** Reasoning that is redacted: every chunk still goes out (§11.4). */
const thinker = Tools.make({
  name: "thinker",
  parameters: Tools.AnyArguments,
  handler: (_, ctx) =>
    Effect.gen(function*() {
      const thoughts = yield* ctx.stream({ kind: "thought", redact: true })
      yield* thoughts.write("the secret plan")
      yield* thoughts.write("more of it")
      yield* thoughts.close()
      const text = yield* ctx.stream({ kind: "text" })
      yield* text.write("visible")
      yield* text.close()
      return "thought"
    })
})

const observers = new Map<string, ObserveGrant>([["auditor", "*"], ["bob-watcher", ["bob"]]])
const auth = {
  bearer: new Map([["auditor-token", "auditor"], ["bob-watcher-token", "bob-watcher"]]),
  observers
}
const as = (token: string) => open({ credentials: { scheme: "bearer", token } })

type Served = Effect.Effect.Context<ReturnType<typeof open>> | Sessions

/** Runs `body` against a WebSocket server on the memory log, or on a fresh SQLite file. */
const withServer = <A, E>(
  log: "memory" | "sqlite",
  body: Effect.Effect<A, E, Scope.Scope | Served>,
  runtime: RuntimeConfig.Options = {}
) =>
  Effect.gen(function*() {
    const file = join(yield* tempDir("arcp-subs-"), "events.db")
    const eventLog = log === "memory" ? MemoryEventLog.layer : SqliteEventLog.layer({ filename: file })
    return yield* body.pipe(
      Effect.provide(serverLayer({ transport: webSocket, eventLog, tools: [thinker], auth, runtime }))
    )
  })

/** A job's events as A sees them, collected in the background; `seen(n)` waits until n have arrived. */
const watch = (events: Stream.Stream<Decoded>) =>
  Effect.gen(function*() {
    const all: Array<Decoded> = []
    const arrived = yield* Queue.unbounded<void>()
    const done = yield* events.pipe(
      Stream.runForEach((m) => Effect.zipRight(Effect.sync(() => all.push(m)), Queue.offer(arrived, undefined))),
      Effect.forkScoped
    )
    const seen = (n: number) =>
      Effect.gen(function*() {
        while (all.length < n) yield* Queue.take(arrived)
      })
    return { all, seen, done }
  })

const untilTerminal = (stream: Stream.Stream<Decoded, unknown>) =>
  stream.pipe(Stream.takeUntil(terminal), Stream.runCollect, Effect.map(Chunk.toReadonlyArray))

describe("subscriptions (§13) over WebSocket", { timeout: 60_000 }, () => {
  for (const log of ["memory", "sqlite"] as const) {
    it.scopedLive(
      `R13.1-1 R13.3-1 (${log}) backfill, the marker, then live: nothing lost or repeated while a ticker runs`,
      () =>
        withServer(
          log,
          Effect.gen(function*() {
            const runner = yield* open()
            const job = yield* runner.invoke("ticker", { count: 80, interval_ms: 5 })
            const mine = yield* watch(job.events)
            yield* mine.seen(10)
            // start after the 5th event A saw: events 6.. are backfilled, then live ones follow
            const since = mine.all[4]
            if (since === undefined) return yield* Effect.dieMessage("no events")
            const observer = yield* open()
            const observed = yield* untilTerminal(
              observer.subscribe({ job_id: [job.jobId] }, { after_message_id: since.id })
            )
            yield* Effect.flatMap(Effect.fromFiber(mine.done), () => Effect.void)
            const markers = observed.filter(isBackfillComplete)
            assert.strictEqual(markers.length, 1, "one end-of-backfill marker")
            const boundary = observed.findIndex(isBackfillComplete)
            const ids = observed.filter((m) => !isBackfillComplete(m)).map((m) => m.id)
            const expected = mine.all.slice(5).map((m) => m.id)
            assert.deepStrictEqual(ids, expected, "the observer sees exactly A's events after since, in order")
            assert.isAbove(boundary, 0, "some events were backfilled")
            assert.isBelow(boundary, observed.length - 1, "some arrived live")
            assert.strictEqual(new Set(ids).size, ids.length, "no duplicate")
            // each observed event is the original envelope, unchanged
            assert.deepStrictEqual(observed.at(-1), mine.all.at(-1))
          })
        )
    )
  }

  it.scopedLive("R13.3-1 since.checkpoint_id backfills what followed that checkpoint; an unknown or unobservable one is NOT_FOUND", () =>
    withServer(
      "sqlite",
      Effect.gen(function*() {
        const runner = yield* open()
        const job = yield* runner.invoke("ticker", { count: 6 })
        const mine = yield* untilTerminal(job.events)
        const checkpoint = mine.filter((m) => m.type === "job.checkpoint")[2]
        const checkpointId = CheckpointId.make(String(field(checkpoint ?? mine[0], "checkpoint_id")))
        const observer = yield* open()
        const observed = yield* untilTerminal(
          observer.subscribe({ job_id: [job.jobId] }, { checkpoint_id: checkpointId })
        )
        const at = mine.findIndex((m) => m.id === checkpoint?.id)
        assert.deepStrictEqual(
          observed.filter((m) => !isBackfillComplete(m)).map((m) => m.id),
          mine.slice(at + 1).map((m) => m.id),
          "exactly the events after the checkpoint, in order"
        )
        const unknown = yield* Effect.flip(
          observer.request("subscribe", {
            filter: {},
            since: { checkpoint_id: CheckpointId.make("chk_01JUNKNOWN0000000000000000") }
          })
        )
        assert.strictEqual(code(unknown), "NOT_FOUND")
        const stranger = yield* as("bob-watcher-token")
        const refused = yield* Effect.flip(
          stranger.request("subscribe", { filter: {}, since: { checkpoint_id: checkpointId } })
        )
        assert.strictEqual(code(refused), "NOT_FOUND", "another principal's checkpoint is not told apart from none")
      })
    ))

  it.scopedLive("R13.1-1 R13.2-2 another principal is refused PERMISSION_DENIED and sees nothing of alice's sessions", () =>
    withServer(
      "memory",
      Effect.gen(function*() {
        const alice = yield* open()
        const bob = yield* as("other-token")
        const job = yield* alice.invoke("echo", { secret: 1 })
        yield* untilTerminal(job.events)
        for (
          const filter of [{ session_id: [alice.id] }, { job_id: [job.jobId] }, { session_id: ["sess_nope"] }, {
            session_id: [bob.id, alice.id]
          }]
        ) {
          const refused = yield* Effect.flip(Stream.runDrain(bob.subscribe(filter)))
          assert.strictEqual(code(refused), "PERMISSION_DENIED", JSON.stringify(filter))
        }
        // an open filter is narrowed to bob's own sessions: alice's echo (before bob's) never shows
        const everything = yield* watch(bob.subscribe({}).pipe(Stream.orDie))
        yield* bob.ping
        const aliceAgain = yield* alice.invoke("echo", { secret: 2 })
        yield* untilTerminal(aliceAgain.events)
        const bobs = yield* bob.invoke("echo", { mine: true })
        yield* untilTerminal(bobs.events)
        while (!everything.all.some((m) => m.type === "tool.result" && m.job_id === bobs.jobId)) {
          yield* everything.seen(everything.all.length + 1)
        }
        assert.isFalse(everything.all.some((m) => m.session_id === alice.id), "nothing of alice")
        assert.isTrue(everything.all.every((m) => m.session_id === bob.id))
      })
    ))

  it.scopedLive("R13.1-1 an observer grant (--observer) widens what a principal may observe, and only that", () =>
    withServer(
      "memory",
      Effect.gen(function*() {
        const alice = yield* open()
        const auditor = yield* as("auditor-token")
        const watcher = yield* as("bob-watcher-token")
        assert.strictEqual(
          code(yield* Effect.flip(Stream.runDrain(watcher.subscribe({ session_id: [alice.id] })))),
          "PERMISSION_DENIED"
        )
        const seen = yield* watch(
          auditor.subscribe({ session_id: [alice.id], types: ["tool.result"] }).pipe(Stream.orDie)
        )
        yield* auditor.ping
        const job = yield* alice.invoke("echo", { audited: true })
        yield* untilTerminal(job.events)
        yield* seen.seen(1)
        assert.deepStrictEqual(seen.all[0]?.payload, { value: { audited: true } })
        assert.strictEqual(seen.all[0]?.session_id, alice.id)
      })
    ))

  it.scopedLive("R13.4-1 unsubscribe stops deliveries and is acknowledged; an unknown subscription is NOT_FOUND", () =>
    withServer(
      "memory",
      Effect.gen(function*() {
        const session = yield* open()
        const messages = yield* session.messages
        const accepted = yield* session.request("subscribe", { filter: { types: ["tool.result"] } })
        const id = SubscriptionId.make(String(field(accepted, "subscription_id")))
        const first = yield* session.invoke("echo", { n: 1 })
        yield* untilTerminal(first.events)
        yield* collectUntil(messages, (m) => m.type === "subscribe.event" && m.subscription_id === id)
        const ack = yield* session.request("unsubscribe", { subscription_id: id })
        assert.strictEqual(ack.type, "ack")
        const again = yield* Effect.flip(session.request("unsubscribe", { subscription_id: id }))
        assert.strictEqual(code(again), "NOT_FOUND")
        const second = yield* session.invoke("echo", { n: 2 })
        yield* untilTerminal(second.events)
        const after = yield* collectUntil(messages, (m) => m.type === "tool.result" && m.job_id === second.jobId)
        const pong = yield* session.ping
        assert.isDefined(pong)
        assert.isFalse(after.some((m) => m.type === "subscribe.event"), "nothing delivered after unsubscribe")
      })
    ))

  it.scopedLive("R7-1 a session that did not negotiate subscriptions is refused FAILED_PRECONDITION", () =>
    withServer(
      "memory",
      Effect.gen(function*() {
        const session = yield* open({ capabilities: { subscriptions: false } })
        assert.isFalse(session.capabilities.subscriptions === true)
        const refused = yield* Effect.flip(session.request("subscribe", { filter: {} }))
        assert.strictEqual(code(refused), "FAILED_PRECONDITION")
        assert.isTrue((yield* open()).capabilities.subscriptions === true, "advertised, and negotiated when offered")
      })
    ))

  it.scopedLive("R13.4-2 a session's eviction closes its subscriptions first: subscribe.closed with the reason", () =>
    withServer(
      "memory",
      Effect.gen(function*() {
        const session = yield* open()
        const messages = yield* session.messages
        const accepted = yield* session.request("subscribe", { filter: {} })
        const id = field(accepted, "subscription_id")
        const sessions = yield* Sessions
        yield* sessions.evict(SessionId.make(session.id), "UNAUTHENTICATED", "the credential expired")
        const seen = yield* collectUntil(messages, (m) => m.type === "session.evicted")
        const closed = seen.find((m) => m.type === "subscribe.closed")
        assert.strictEqual(closed?.subscription_id, id)
        assert.deepStrictEqual(closed?.payload, { subscription_id: id, reason: "UNAUTHENTICATED" })
      })
    ))

  it.scopedLive("R12.3-3 R12.3-4 R12.3-1 R12.3-2 a human request reaches every observing channel; the first answer wins, recorded with responded_by; the others are cleared", () =>
    withServer(
      "memory",
      Effect.gen(function*() {
        const asker = yield* open({ capabilities: { human_input: true } })
        const phone = yield* open({ capabilities: { human_input: true } })
        const auditor = yield* as("auditor-token")
        const onPhone = yield* watch(phone.subscribe({ session_id: [asker.id] }).pipe(Stream.orDie))
        const onAudit = yield* watch(auditor.subscribe({ session_id: [asker.id] }).pipe(Stream.orDie))
        yield* phone.ping
        yield* auditor.ping
        const job = yield* asker.invoke("ask", { prompt: "Which branch?" })
        const mine = yield* watch(job.events)
        const requestOn = (w: typeof mine) =>
          Effect.gen(function*() {
            while (!w.all.some((m) => m.type === "human.input.request")) yield* w.seen(w.all.length + 1)
            return w.all.find((m) => m.type === "human.input.request")
          })
        const request = yield* requestOn(mine)
        const relayed = yield* requestOn(onPhone)
        assert.strictEqual(relayed?.id, request?.id, "the phone sees the same request")
        assert.strictEqual((yield* requestOn(onAudit))?.id, request?.id, "so does the auditor")
        const requestId = MessageId.make(request?.id ?? "")
        // the auditor observes but may not answer another principal's request
        assert.strictEqual(code(yield* Effect.flip(auditor.respond(requestId, { answer: "no" }, "audit"))), "NOT_FOUND")
        yield* phone.respond(requestId, { answer: "fix/jwt" }, "ntfy:phone")
        // first valid answer wins; the asker's own late answer is ignored
        yield* asker.respond(requestId, { answer: "too late" }, "terminal")
        assert.deepStrictEqual(yield* job.outcome, { answer: "fix/jwt" })
        yield* Effect.fromFiber(mine.done)
        const recorded = mine.all.find((m) => m.type === "human.input.response")
        assert.strictEqual(field(recorded, "responded_by"), "ntfy:phone")
        assert.strictEqual(recorded?.correlation_id, request?.id)
        const cleared = mine.all.find((m) => m.type === "human.input.cancelled")
        assert.strictEqual(field(cleared, "code"), "CANCELLED")
        assert.strictEqual(cleared?.correlation_id, request?.id)
        while (!onAudit.all.some((m) => m.type === "human.input.cancelled")) yield* onAudit.seen(onAudit.all.length + 1)
      })
    ))

  it.scopedLive("R11.4-2 R11.4-3 observers see redacted thoughts exactly as emitted, or leave thought streams out", () =>
    withServer(
      "memory",
      Effect.gen(function*() {
        const session = yield* open()
        const job = yield* session.invoke("thinker", {})
        const own = yield* untilTerminal(job.events)
        const first = own[0]
        if (first === undefined) return yield* Effect.dieMessage("no events")
        const observer = yield* open()
        const all = yield* untilTerminal(observer.subscribe({ job_id: [job.jobId] }, { after_message_id: first.id }))
        const thoughts = all.filter((m) => m.type === "stream.chunk" && field(m, "role") === "assistant_thought")
        assert.deepStrictEqual(thoughts.map((m) => m.payload), [
          { sequence: 0, role: "assistant_thought", content: "", redacted: true },
          { sequence: 1, role: "assistant_thought", content: "", redacted: true }
        ])
        const quiet = yield* untilTerminal(
          observer.subscribe({ job_id: [job.jobId], exclude_kinds: ["thought"] }, { after_message_id: first.id })
        )
        const streams = new Set(quiet.flatMap((m) => (m.stream_id === undefined ? [] : [m.stream_id])))
        assert.strictEqual(streams.size, 1, "only the text stream")
        assert.isTrue(quiet.some((m) => m.type === "stream.chunk" && field(m, "data") === "visible"))
        assert.isFalse(quiet.some((m) => field(m, "role") === "assistant_thought"))
      })
    ))
})

/** A raw connection whose reading can be paused (it then takes nothing off the transport). */
const pausable = (connection: Connection) =>
  Effect.gen(function*() {
    const queue = yield* Queue.unbounded<Decoded>()
    const latch = yield* Effect.makeLatch(true)
    yield* connection.incoming.pipe(
      Stream.runForEach((frame) =>
        latch.await.pipe(Effect.zipRight(Effect.suspend(() => {
          if (frame._tag !== "Text") return Effect.void
          const decoded = decodeJson(frame.text)
          return Either.isRight(decoded) ? Queue.offer(queue, decoded.right) : Effect.void
        })))
      ),
      Effect.ignore,
      Effect.forkScoped
    )
    const until = (match: (m: Decoded) => boolean) =>
      Effect.gen(function*() {
        const seen: Array<Decoded> = []
        while (true) {
          const m = yield* Queue.take(queue)
          seen.push(m)
          if (match(m)) return seen
        }
      })
    return { pause: latch.close, resume: latch.open, until }
  })

describe("subscriptions (§13), bounded", () => {
  // On the live clock, by necessity: while the paused reader leaves the transport full, the connection's writer
  // looks again every 1..500 ms on Effect's Clock (transports report no drain event, see Outbound's POLL_*).
  // Under TestClock those sleeps never end unless the test adjusts the clock, so once the reader resumes the
  // subscribe.closed queued behind them is never written and the test hangs; nothing here is a timer to control.
  it.scopedLive(
    "R13.4-2 a subscriber that stops reading is closed BACKPRESSURE_OVERFLOW; the producer is not held back",
    () =>
      Effect.gen(function*() {
        const connection = yield* dial
        const reader = yield* pausable(connection)
        const send = (envelope: Decoded) => connection.send(encodeUnchecked(envelope))
        yield* send(
          yield* makeEnvelope("session.open", {
            auth: { scheme: "bearer", token: TOKEN },
            client: { kind: "raw", version: "1" },
            capabilities: { subscriptions: true }
          })
        )
        const sessionId = SessionId.make(
          (yield* reader.until((m) => m.type === "session.accepted")).at(-1)?.session_id ?? ""
        )
        yield* send(
          yield* makeEnvelope("subscribe", { filter: { types: ["job.progress"] } }, { session_id: sessionId })
        )
        const accepted = (yield* reader.until((m) => m.type === "subscribe.accepted")).at(-1)
        yield* reader.pause
        const producer = yield* open()
        const job = yield* producer.invoke("ticker", { count: 1000 })
        // the producer finishes: a stalled observer does not hold it back
        assert.deepStrictEqual(yield* job.outcome, { count: 1000 })
        yield* reader.resume
        const seen = yield* reader.until((m) => m.type === "subscribe.closed")
        const closed = seen.at(-1)
        assert.deepStrictEqual(closed?.payload, {
          subscription_id: field(accepted, "subscription_id"),
          reason: "BACKPRESSURE_OVERFLOW"
        })
        // what was delivered before is in order, with no gap
        const currents = seen.filter((m) => m.type === "subscribe.event").map((m) =>
          Reflect.get(Reflect.get(m.payload, "event").payload, "current")
        )
        assert.isAbove(currents.length, 0)
        assert.isBelow(currents.length, 1000)
        assert.deepStrictEqual(currents, currents.map((_, i) => i + 1))
        // the session itself lives on
        const ping = yield* makeEnvelope("ping", {}, { session_id: sessionId })
        yield* send(ping)
        yield* reader.until((m) => m.type === "pong" && m.correlation_id === ping.id)
      }).pipe(
        Effect.provide(serverLayer({
          transport: memory,
          runtime: {
            subscriptionQueue: 8,
            maxOutboundEnvelopes: 16,
            maxOutboundBytes: 16 * 1024,
            stalledReaderTimeout: "1 hour"
          }
        }))
      ),
    30_000
  )
})
