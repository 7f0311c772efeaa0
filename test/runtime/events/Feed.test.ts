/**
 * The event path's seam: the recorder commits then publishes with positions;
 * `Feed.follow` backfills then goes live with no gap and no duplicate, checks
 * visibility, and bounds each follower's queue by its policy.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer } from "effect"
import { join } from "node:path"
import { make as makeEnvelope } from "../../../src/protocol/Envelope.js"
import { JobId, SessionId } from "../../../src/protocol/Ids.js"
import { encodeUnchecked } from "../../../src/protocol/Message.js"
import * as Events from "../../../src/runtime/events/Events.js"
import { Feed, type FeedItem, type Follower } from "../../../src/runtime/events/Feed.js"
import { Recorder } from "../../../src/runtime/events/Recorder.js"
import { EventLog, EventLogError } from "../../../src/store/EventLog.js"
import * as MemoryEventLog from "../../../src/store/MemoryEventLog.js"
import * as SqliteEventLog from "../../../src/store/SqliteEventLog.js"
import { memory, open, PRINCIPAL, serverLayer } from "../../support/Harness.js"
import { tempDir } from "../../support/TempDir.js"

const memoryLayer = Events.layer.pipe(Layer.provideMerge(MemoryEventLog.layer))

/** Opens `session` for `principal` in the log (its first inbound envelope makes it theirs). */
const own = (principal: string, session: string) =>
  Effect.flatMap(EventLog, (log) =>
    log.recordInbound(principal, [{
      id: `msg_open_${session}`,
      type: "session.open",
      session_id: session,
      timestamp: "2026-11-29T12:00:00Z",
      json: "{}"
    }]))

/** Records `count` job.progress events of `job` in `session` (of `principal`), `per` at a time. */
const produce = (principal: string, session: string, job: string, count: number, per = 1, start = 0) =>
  Effect.gen(function*() {
    const recorder = yield* Recorder
    for (let i = 0; i < count; i += per) {
      const batch = yield* Effect.forEach(
        Array.from({ length: Math.min(per, count - i) }, (_, k) => i + k),
        (n) =>
          Effect.map(
            makeEnvelope("job.progress", { current: start + n }, {
              session_id: SessionId.make(session),
              job_id: JobId.make(job)
            }),
            (envelope) => ({ envelope, sessionId: session, principal, json: encodeUnchecked(envelope) })
          )
      )
      yield* recorder.record(batch)
    }
  })

const current = (item: FeedItem) =>
  item._tag === "Event" ? Number(Reflect.get(Object(item.event.envelope.payload), "current")) : -1

/** Takes from `follower` until `count` events (and any marker) arrived. */
const takeEvents = (follower: Follower, count: number) =>
  Effect.gen(function*() {
    const got: Array<FeedItem> = []
    while (got.filter((i) => i._tag === "Event").length < count) got.push(...(yield* follower.take))
    return got
  })

describe("Feed", () => {
  it.scoped("R4.3-1 the recorder returns increasing positions and publishes after the commit; a live follower hears them", () =>
    Effect.gen(function*() {
      yield* own("alice", "sess_a")
      const feed = yield* Feed
      const follower = yield* feed.follow({
        filter: { session_id: ["sess_a"] },
        after: "live",
        viewer: { principal: "alice" },
        overflow: "fail"
      })
      const recorder = yield* Recorder
      const envelope = yield* makeEnvelope("log", { level: "info", message: "hi" }, {
        session_id: SessionId.make("sess_a")
      })
      const [position] = yield* recorder.record([{
        envelope,
        sessionId: "sess_a",
        principal: "alice",
        json: encodeUnchecked(envelope)
      }])
      const [item] = yield* follower.take
      assert.strictEqual(item?._tag, "Event")
      if (item?._tag !== "Event") return
      assert.strictEqual(item.event.position, position)
      assert.strictEqual(item.event.envelope.id, envelope.id)
      // committed before it was published
      const [row] = yield* Effect.flatMap(EventLog, (log) => log.read({ direction: "out" }))
      assert.strictEqual(row?.position, position)
    }).pipe(Effect.provide(memoryLayer)))

  it.scoped("R6.4-2 backfill hands over to live with no gap and no duplicate while events are being produced", () =>
    Effect.gen(function*() {
      yield* own("alice", "sess_a")
      const total = 600
      const producer = yield* Effect.fork(produce("alice", "sess_a", "job_1", total, 3))
      // let the producer commit some before following from the start
      yield* Effect.repeat(Effect.flatMap(EventLog, (log) => log.head), { until: (head) => head > 60 })
      const follower = yield* Effect.flatMap(
        Feed,
        (feed) =>
          feed.follow({ filter: { job_id: ["job_1"] }, after: 0, viewer: { principal: "alice" }, overflow: "suspend" })
      )
      const items = yield* takeEvents(follower, total)
      yield* Fiber.join(producer)
      const events = items.filter((i) => i._tag === "Event")
      assert.deepStrictEqual(events.map(current), Array.from({ length: total }, (_, i) => i))
      assert.strictEqual(items.filter((i) => i._tag === "CaughtUp").length, 1, "one marker between backfill and live")
      const marker = items.findIndex((i) => i._tag === "CaughtUp")
      assert.isTrue(marker > 0, "something was backfilled before the marker")
    }).pipe(Effect.provide(memoryLayer)))

  it.scoped("R6.1.1-2 a viewer sees its own principal's sessions only, unless an observer grant says otherwise", () =>
    Effect.gen(function*() {
      yield* own("alice", "sess_a")
      yield* own("bob", "sess_b")
      yield* produce("alice", "sess_a", "job_a", 2)
      yield* produce("bob", "sess_b", "job_b", 2)
      const feed = yield* Feed
      const follow = (principal: string, observes?: (owner: string) => boolean) =>
        feed.follow({ filter: {}, after: 0, viewer: { principal, observes }, overflow: "fail" })
      const alice = yield* follow("alice")
      const observer = yield* follow("ops", (owner) => owner === "bob")
      const sessions = (items: ReadonlyArray<FeedItem>) =>
        items.flatMap((i) => (i._tag === "Event" ? [i.event.sessionId] : []))
      yield* produce("bob", "sess_b", "job_b", 1)
      yield* produce("alice", "sess_a", "job_a", 1)
      assert.deepStrictEqual(sessions(yield* takeEvents(alice, 3)), ["sess_a", "sess_a", "sess_a"])
      assert.deepStrictEqual(sessions(yield* takeEvents(observer, 3)), ["sess_b", "sess_b", "sess_b"])
    }).pipe(Effect.provide(memoryLayer)))

  it.scoped("R11-2 a \"fail\" follower whose queue overflows is closed Overflow after what it holds", () =>
    Effect.gen(function*() {
      yield* own("alice", "sess_a")
      const follower = yield* Effect.flatMap(Feed, (feed) =>
        feed.follow({
          filter: { session_id: ["sess_a"] },
          after: "live",
          viewer: { principal: "alice" },
          overflow: "fail",
          capacity: 4
        }))
      yield* produce("alice", "sess_a", "job_1", 10)
      assert.strictEqual((yield* follower.take).length, 4)
      const closed = yield* Effect.flip(follower.take)
      assert.strictEqual(closed.reason, "Overflow")
    }).pipe(Effect.provide(memoryLayer)))

  it.scoped("R11-2 a \"suspend\" follower holds producers in Feed.room while full, and lets them go once read", () =>
    Effect.gen(function*() {
      yield* own("alice", "sess_a")
      const feed = yield* Feed
      const follower = yield* feed.follow({
        filter: { session_id: ["sess_a"] },
        after: "live",
        viewer: { principal: "alice" },
        overflow: "suspend",
        capacity: 3
      })
      const target = { sessionId: "sess_a", principal: "alice", jobId: "job_1" }
      const produced = yield* Deferred.make<void>()
      const producer = yield* Effect.fork(Effect.gen(function*() {
        for (let i = 0; i < 6; i++) {
          yield* feed.room(target)
          yield* produce("alice", "sess_a", "job_1", 1, 1, i)
        }
        yield* Deferred.succeed(produced, undefined)
      }))
      yield* Effect.repeat(follower.size, { until: (n) => n >= 3 })
      // no room: the producer waits, nothing more is queued
      yield* Effect.yieldNow({ priority: 1 })
      assert.strictEqual(yield* follower.size, 3)
      assert.isFalse(yield* Deferred.isDone(produced))
      // other sessions' producers are not held by it
      yield* feed.room({ sessionId: "sess_other", principal: "alice" })
      const items = yield* takeEvents(follower, 6)
      yield* Fiber.join(producer)
      assert.deepStrictEqual(items.map(current), [0, 1, 2, 3, 4, 5])
    }).pipe(Effect.provide(memoryLayer)))

  it.scoped("R11-2 Feed.roomNow says at once what Feed.room would do: no while a matching follower is full", () =>
    Effect.gen(function*() {
      yield* own("alice", "sess_a")
      const feed = yield* Feed
      const target = { sessionId: "sess_a", principal: "alice", jobId: "job_1" }
      const follower = yield* feed.follow({
        filter: { session_id: ["sess_a"] },
        after: "live",
        viewer: { principal: "alice" },
        overflow: "suspend",
        capacity: 2
      })
      assert.isTrue(feed.roomNow(target))
      yield* produce("alice", "sess_a", "job_1", 2)
      yield* Effect.repeat(follower.size, { until: (n) => n >= 2 })
      assert.isFalse(feed.roomNow(target))
      // another session's producer is not held by it
      assert.isTrue(feed.roomNow({ sessionId: "sess_other", principal: "alice" }))
      yield* takeEvents(follower, 2)
      assert.isTrue(feed.roomNow(target))
      // a follower whose consumer's own buffer is full: no room, though its queue is empty
      yield* feed.follow({
        filter: { session_id: ["sess_a"] },
        after: "live",
        viewer: { principal: "alice" },
        overflow: "suspend",
        buffer: { room: Effect.never, roomNow: () => false }
      })
      assert.isFalse(feed.roomNow(target))
    }).pipe(Effect.provide(memoryLayer)))

  it.scoped("R6.4-1 a batch that cannot be committed is not published; its session's follower is closed Unrecorded", () =>
    Effect.gen(function*() {
      const failing = Layer.effect(
        EventLog,
        Effect.map(EventLog, (log) =>
          EventLog.of({
            ...log,
            recordOutbound: () => Effect.fail(new EventLogError({ reason: "Write", message: "disk full" }))
          }))
      ).pipe(Layer.provide(MemoryEventLog.layer))
      yield* Effect.gen(function*() {
        const follower = yield* Effect.flatMap(Feed, (feed) =>
          feed.follow({
            filter: { session_id: ["sess_a"] },
            after: "live",
            viewer: { principal: "alice" },
            overflow: "suspend"
          }))
        const failed = yield* Effect.flip(produce("alice", "sess_a", "job_1", 1))
        assert.strictEqual(failed.message, "disk full")
        assert.strictEqual((yield* Effect.flip(follower.take)).reason, "Unrecorded")
      }).pipe(Effect.provide(Events.layer.pipe(Layer.provideMerge(failing))))
    }))

  it.scoped("R4.3-1 on the SQLite log: backfill pages through the file, then live, in position order", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("arcp-feed-")
      yield* Effect.gen(function*() {
        yield* own("alice", "sess_a")
        yield* produce("alice", "sess_a", "job_1", 700, 50)
        const follower = yield* Effect.flatMap(
          Feed,
          (feed) =>
            feed.follow({
              filter: { job_id: ["job_1"] },
              after: 0,
              viewer: { principal: "alice" },
              overflow: "suspend"
            })
        )
        yield* produce("alice", "sess_a", "job_1", 10, 5).pipe(Effect.fork)
        const items = yield* takeEvents(follower, 700)
        const more = yield* takeEvents(follower, 10 - (items.filter((i) => i._tag === "Event").length - 700))
        const events = [...items, ...more].filter((i) => i._tag === "Event")
        const positions = events.flatMap((i) => (i._tag === "Event" ? [i.event.position] : []))
        assert.strictEqual(events.length, 710)
        assert.deepStrictEqual(positions, [...positions].sort((a, b) => a - b))
        assert.strictEqual(new Set(positions).size, 710)
      }).pipe(
        Effect.provide(Events.layer.pipe(Layer.provideMerge(SqliteEventLog.layer({ filename: join(dir, "e.db") }))))
      )
    }))
})

describe("Feed in a running runtime", () => {
  it.scoped("R4.3-1 a session's envelopes are recorded then published: a follower of its principal sees its job, others do not", () =>
    Effect.gen(function*() {
      const feed = yield* Feed
      const alice = yield* feed.follow({
        filter: { types: ["job.accepted", "tool.result"] },
        after: "live",
        viewer: { principal: PRINCIPAL },
        overflow: "fail"
      })
      const bob = yield* feed.follow({ filter: {}, after: "live", viewer: { principal: "bob" }, overflow: "fail" })
      const session = yield* open()
      const handle = yield* session.invoke("echo", { text: "hi" })
      yield* handle.outcome
      const items = yield* takeEvents(alice, 2)
      assert.deepStrictEqual(
        items.flatMap((i) => (i._tag === "Event" ? [[i.event.envelope.type, i.event.sessionId]] : [])),
        [["job.accepted", session.id], ["tool.result", session.id]]
      )
      assert.strictEqual(yield* bob.size, 0)
      // the same, read back from the log after the fact
      const backfilled = yield* feed.follow({
        filter: { session_id: [session.id], types: ["tool.result"] },
        after: 0,
        viewer: { principal: PRINCIPAL },
        overflow: "fail"
      })
      const [first] = yield* takeEvents(backfilled, 1)
      assert.strictEqual(first?._tag === "Event" ? first.event.envelope.type : undefined, "tool.result")
    }).pipe(Effect.provide(serverLayer({ transport: memory }))))
})
