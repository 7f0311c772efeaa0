/**
 * The EventBus on LISTEN/NOTIFY: two runtimes on one database hear each other's commits, in position
 * order; a listener that lost its connection catches up from its last position; a local publish
 * returns once its subscribers have it.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Queue } from "effect"
import pg from "pg"
import { decodeJson } from "../../src/protocol/Message.js"
import type { BusMessage, Published } from "../../src/runtime/events/EventBus.js"
import { EventLog, type LoggedEnvelope } from "../../src/store/EventLog.js"
import * as PgEventBus from "../../src/store/postgres/PgEventBus.js"
import * as PgEventLog from "../../src/store/postgres/PgEventLog.js"
import * as PostgresStore from "../../src/store/postgres/PostgresStore.js"
import { pgUnavailable, usePgCluster } from "../support/cluster/Postgres.js"
import { envelope } from "./EventLogSuite.js"

/** A "runtime": its own pool, log and bus on `url`, wired as PostgresStore wires them; the bus's connection named `name`. */
const runtime = (url: string, name: string) =>
  Effect.gen(function*() {
    const localInbound = new Set<number>()
    const context = yield* Layer.build(
      Layer.scoped(EventLog, PgEventLog.make((positions) => positions.forEach((p) => localInbound.add(p)))).pipe(
        Layer.provide(PostgresStore.clientLayer({ url, maxConnections: 2 }))
      )
    )
    const log = Context.get(context, EventLog)
    const bus = yield* PgEventBus.make({ url, applicationName: name, localInbound }).pipe(
      Effect.provideService(EventLog, log)
    )
    /** What the recorder does: commit, then publish (decoded as the runtime has them). */
    const record = (batch: ReadonlyArray<LoggedEnvelope>) =>
      Effect.gen(function*() {
        const positions = yield* log.recordOutbound(batch)
        const events = batch.map((e, i): Published => {
          const decoded = decodeJson(e.json)
          if (decoded._tag === "Left") throw new Error("undecodable")
          return {
            position: positions[i] ?? 0,
            sessionId: "sess_1",
            principal: "alice",
            envelope: decoded.right,
            json: e.json
          }
        })
        yield* bus.publish({ _tag: "Committed", events })
        return events
      })
    return { log, bus, record }
  })

/** Envelopes of a ping session owned by alice. */
const pings = (prefix: string, n: number) =>
  Array.from({ length: n }, (_, i) =>
    envelope(`${prefix}${i}`, {
      type: "pong",
      json: JSON.stringify({
        arcp: "1.0",
        id: `${prefix}${i}`,
        type: "pong",
        session_id: "sess_1",
        timestamp: "2026-05-09T13:00:00Z",
        payload: { ack_for: "ping_1", received_at: "2026-05-09T13:00:00Z" }
      })
    }))

/** Collects committed events from a subscription until `n` arrived. */
const collect = (sub: Queue.Dequeue<BusMessage>, n: number) =>
  Effect.gen(function*() {
    const got: Array<Published> = []
    while (got.length < n) {
      const message = yield* Queue.take(sub)
      if (message._tag === "Committed") got.push(...message.events)
    }
    return got
  }).pipe(Effect.timeout("20 seconds"))

describe.skipIf(pgUnavailable !== undefined)("PgEventBus", () => {
  const { database } = usePgCluster()

  it.live(
    "R13-1 two runtimes on one database: each hears the other's commits, in position order, with their owner",
    () =>
      Effect.gen(function*() {
        const url = yield* database
        const a = yield* runtime(url, "bus-a")
        const b = yield* runtime(url, "bus-b")
        yield* a.log.recordInbound("alice", [envelope("open", { type: "session.open" })])
        const onA = yield* a.bus.subscribe()
        const onB = yield* b.bus.subscribe()
        // wait until both listen: a first commit is heard by both
        yield* a.log.recordOutbound(pings("warm", 1))
        yield* collect(onA, 1)
        yield* collect(onB, 1)
        const fromA = yield* a.log.recordOutbound(pings("a", 5))
        const fromB = yield* b.log.recordOutbound(pings("b", 5))
        const heardByA = yield* collect(onA, 10)
        const heardByB = yield* collect(onB, 10)
        const expected = [...fromA, ...fromB]
        assert.deepStrictEqual(heardByA.map((e) => e.position), expected)
        assert.deepStrictEqual(heardByB.map((e) => e.position), expected)
        assert.isTrue(heardByB.every((e) => e.principal === "alice" && e.sessionId === "sess_1"))
        assert.strictEqual(heardByB[0]?.envelope.id, "a0")
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "R19-1 a listener that lost its connection catches up from its last position: nothing lost, nothing twice",
    () =>
      Effect.gen(function*() {
        const url = yield* database
        const a = yield* runtime(url, "bus-writer")
        const b = yield* runtime(url, "bus-reader")
        yield* a.log.recordInbound("alice", [envelope("open", { type: "session.open" })])
        const onB = yield* b.bus.subscribe()
        yield* a.log.recordOutbound(pings("before", 3))
        assert.deepStrictEqual((yield* collect(onB, 3)).map((e) => e.envelope.id), ["before0", "before1", "before2"])
        // cut the reader's listening connection, then commit while it is gone
        const admin = new pg.Client({ connectionString: url })
        yield* Effect.promise(() => admin.connect())
        yield* Effect.addFinalizer(() => Effect.promise(() => admin.end()))
        const killed = yield* Effect.promise(() =>
          admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'bus-reader'`)
        )
        assert.strictEqual(killed.rowCount, 1)
        yield* a.log.recordOutbound(pings("during", 4))
        const after = yield* collect(onB, 4)
        assert.deepStrictEqual(after.map((e) => e.envelope.id), ["during0", "during1", "during2", "during3"])
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "R4.3-1 a local publish returns once its subscribers have the batch, as the envelopes it was given",
    () =>
      Effect.gen(function*() {
        const url = yield* database
        const a = yield* runtime(url, "bus-local")
        yield* a.log.recordInbound("alice", [envelope("open", { type: "session.open" })])
        const sub = yield* a.bus.subscribe()
        const events = yield* a.record(pings("mine", 3))
        const positions = events.map((e) => e.position)
        const queued = yield* Queue.takeAll(sub)
        const delivered = [...queued].flatMap((m) => (m._tag === "Committed" ? m.events : []))
        assert.deepStrictEqual(delivered.map((e) => e.position), [...positions])
        assert.isTrue(delivered.every((e, i) => e === events[i]), "the publisher's own objects, not decoded again")
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "a subscriber that says which events concern it hears only those batches, local or another runtime's",
    () =>
      Effect.gen(function*() {
        const url = yield* database
        const a = yield* runtime(url, "bus-concerns-a")
        const b = yield* runtime(url, "bus-concerns-b")
        yield* a.log.recordInbound("alice", [envelope("open", { type: "session.open" })])
        const mine = yield* a.bus.subscribe((e) => e.envelope.id.startsWith("mine"))
        const all = yield* a.bus.subscribe()
        yield* a.record(pings("other", 2))
        const local = yield* a.record(pings("mine", 2))
        const remote = yield* b.log.recordOutbound([...pings("elsewhere", 1), ...pings("mine_b", 1)])
        yield* b.log.recordOutbound(pings("later", 1))
        // everything heard by the subscriber that takes all: the concerned one has had its batches by then
        assert.strictEqual((yield* collect(all, 7)).length, 7)
        const batches = [...(yield* Queue.takeAll(mine))].flatMap((m) => (m._tag === "Committed" ? [m.events] : []))
        // each batch handed over holds one of its events (the pump may read several commits as one batch)
        assert.isTrue(batches.every((events) => events.some((e) => e.envelope.id.startsWith("mine"))))
        const concerned = batches.flat().filter((e) => e.envelope.id.startsWith("mine"))
        assert.deepStrictEqual(concerned.map((e) => e.position), [...local.map((e) => e.position), remote[1]])
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "R4.3-1 a runtime's own batches interleaved with its inbound and another runtime's commits: every outbound position once, in order",
    () =>
      Effect.gen(function*() {
        const url = yield* database
        const a = yield* runtime(url, "bus-mixed-a")
        const b = yield* runtime(url, "bus-mixed-b")
        yield* a.log.recordInbound("alice", [envelope("open", { type: "session.open" })])
        const sub = yield* a.bus.subscribe()
        const expected: Array<number> = []
        for (let i = 0; i < 15; i++) {
          // own inbound, own outbound (delivered straight away when nothing else is in between)...
          yield* a.log.recordInbound("alice", [envelope(`in${i}`, { type: "ping" })])
          expected.push(...(yield* a.record(pings(`a${i}_`, 2))).map((e) => e.position))
          // ...and every third round another runtime's commit in between (read back from the log)
          if (i % 3 === 0) expected.push(...(yield* b.log.recordOutbound(pings(`b${i}_`, 1))))
        }
        const heard = yield* collect(sub, expected.length)
        assert.deepStrictEqual(heard.map((e) => e.position), expected.sort((x, y) => x - y))
      }).pipe(Effect.scoped),
    60_000
  )
})
