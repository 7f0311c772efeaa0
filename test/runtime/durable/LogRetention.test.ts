/**
 * The log's retention schedule, on a TestClock and the memory log: a pass at start and one every quarter of the
 * retention (at most an hour), each deleting what is older than the retention by the runtime's own timestamps
 * (an inbound envelope's, its sender's clock, is not trusted for it); `Duration.infinity` keeps everything, and
 * the retention is never shorter than the replay retention.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Duration, Effect, Layer, TestClock } from "effect"
import { fromMillis } from "../../../src/protocol/Timestamp.js"
import * as LogRetention from "../../../src/runtime/durable/LogRetention.js"
import * as RuntimeConfig from "../../../src/runtime/RuntimeConfig.js"
import { EventLog, type LoggedEnvelope, readAll } from "../../../src/store/EventLog.js"
import * as MemoryEventLog from "../../../src/store/MemoryEventLog.js"

/** An envelope stamped now by the (test) clock, or with `timestamp` when given. */
const stamped = (id: string, timestamp?: string) =>
  Effect.map(Clock.currentTimeMillis, (now): LoggedEnvelope => ({
    id,
    type: "job.progress",
    session_id: "sess_1",
    timestamp: timestamp ?? fromMillis(now),
    json: "{}"
  }))

const ids = Effect.flatMap(EventLog, (log) => Effect.map(readAll(log, {}), (rows) => rows.map((r) => r.id)))

const withRetention = (options: RuntimeConfig.Options) =>
  Effect.provide(
    LogRetention.layer.pipe(Layer.provideMerge(Layer.merge(MemoryEventLog.layer, RuntimeConfig.layer(options))))
  )

/** Lets the retention's fiber run what the clock made due. */
const settle = Effect.repeatN(Effect.yieldNow(), 20)

describe("LogRetention", () => {
  it.scoped("R19-3 every quarter of the retention, what is older than it goes, by the runtime's timestamps", () =>
    Effect.gen(function*() {
      const log = yield* EventLog
      yield* log.recordOutbound([yield* stamped("a")])
      // an inbound envelope whose sender's clock is far ahead: its position, not its timestamp, decides
      yield* log.recordInbound("alice", [yield* stamped("b", "2099-01-01T00:00:00.000Z")])
      yield* log.recordOutbound([yield* stamped("c")])
      yield* TestClock.adjust("30 minutes")
      yield* log.recordOutbound([yield* stamped("d")])
      yield* TestClock.adjust("30 minutes")
      yield* settle
      assert.deepStrictEqual(yield* ids, ["a", "b", "c", "d"], "nothing is older than an hour yet")
      // the pass at 1 h 15 min: a and c are older than an hour, b sits between them
      yield* TestClock.adjust("15 minutes")
      yield* settle
      assert.deepStrictEqual(yield* ids, ["d"])
      yield* log.recordOutbound([yield* stamped("e")])
      yield* TestClock.adjust("2 hours")
      yield* settle
      assert.deepStrictEqual(yield* ids, ["e"], "d went; the log's last event stays")
    }).pipe(withRetention({ logRetention: "1 hour", replayRetention: "10 minutes" })))

  it.scoped("R19-3 a sweep reports how many went, over several batches", () =>
    Effect.gen(function*() {
      const log = yield* EventLog
      const retention = yield* LogRetention.LogRetention
      const count = LogRetention.BATCH * 2 + 10
      for (let i = 0; i < count; i++) yield* log.recordOutbound([yield* stamped(`m${i}`)])
      // the scheduled pass at one day finds nothing older than a day yet; a millisecond later all but the last are
      yield* TestClock.adjust("1 days")
      yield* settle
      assert.strictEqual((yield* ids).length, count)
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(yield* retention.sweep, count - 1)
      assert.deepStrictEqual(yield* ids, [`m${count - 1}`])
      assert.strictEqual(yield* retention.sweep, 0)
    }).pipe(withRetention({ logRetention: "1 day" })))

  it.scoped("R19-3 an infinite retention keeps everything", () =>
    Effect.gen(function*() {
      const log = yield* EventLog
      const retention = yield* LogRetention.LogRetention
      yield* log.recordOutbound([yield* stamped("a"), yield* stamped("b")])
      yield* TestClock.adjust("365 days")
      yield* settle
      assert.strictEqual(yield* retention.sweep, 0)
      assert.deepStrictEqual(yield* ids, ["a", "b"])
    }).pipe(withRetention({ logRetention: Duration.infinity })))

  it("R19-4 the log retention is never shorter than the replay retention; 0 keeps everything", () => {
    const settings = RuntimeConfig.resolve({ logRetention: "1 hour", replayRetention: "2 days" })
    assert.strictEqual(Duration.toMillis(settings.logRetention), Duration.toMillis(Duration.days(2)))
    assert.strictEqual(Duration.toMillis(RuntimeConfig.resolve({}).logRetention), Duration.toMillis(Duration.hours(24)))
    assert.isFalse(Duration.isFinite(RuntimeConfig.resolve({ logRetention: 0 }).logRetention), "0 keeps everything")
  })
})
