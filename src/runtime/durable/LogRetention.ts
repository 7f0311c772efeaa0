/**
 * The event log's retention: without it the log grows with every operation for as long as the runtime
 * runs (~4 KB an echo on SQLite). Every interval, what is older than `logRetention` goes (`EventLog.prune`
 * says what exactly, and what stays: an unfinished job's events, the log's last position, unexpired
 * idempotency claims and their jobs). A `resume` past the replay retention is refused before it reads
 * anything (§19), and the log retention is never shorter than it, so what goes is what no reader may ask for.
 */
import { Clock, Context, Duration, Effect, Layer, Schedule } from "effect"
import { yieldToEventLoop } from "../../internal/EventLoop.js"
import { toMillis } from "../../protocol/Timestamp.js"
import { EventLog, type EventLogError } from "../../store/EventLog.js"
import { RuntimeConfig } from "../RuntimeConfig.js"

export class LogRetention extends Context.Tag("arcp/LogRetention")<LogRetention, {
  /** One pass now: deletes what is past the retention, in batches; how many events went. */
  readonly sweep: Effect.Effect<number, EventLogError>
}>() {}

/** Events deleted per commit: ~4 ms of the SQLite writer (~8 µs an event), so other commits wait little. */
export const BATCH = 500

/** The longest wait between passes; a short retention is swept four times within it. */
const MAX_INTERVAL = Duration.hours(1)

/**
 * The last position that is past `before`: everything up to it may go. Found by a binary search over the
 * log's outbound events, whose timestamps are the runtime's clock and follow positions (an inbound one
 * carries its sender's clock, so it is not asked).
 */
const cutoff = (log: EventLog["Type"], before: number) =>
  Effect.gen(function*() {
    const head = yield* log.head
    // the smallest p whose first outbound event at or after it is not past `before` (or there is none)
    let low = 1
    let high = head + 1
    while (low < high) {
      const mid = Math.floor((low + high) / 2)
      const [first] = yield* log.read({ after: mid - 1, direction: "out", limit: 1 })
      if (first === undefined || toMillis(first.timestamp) >= before) high = mid
      else low = first.position + 1
    }
    return low - 1
  })

export const make = Effect.gen(function*() {
  const log = yield* EventLog
  const settings = yield* RuntimeConfig
  const retention = settings.logRetention
  // an infinite retention keeps everything: no pass, no schedule
  if (!Duration.isFinite(retention)) return LogRetention.of({ sweep: Effect.succeed(0) })

  const sweep = Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const before = now - Duration.toMillis(retention)
    const through = yield* cutoff(log, before)
    let total = 0
    while (true) {
      const gone = yield* log.prune({ through, before, now, limit: BATCH })
      total += gone
      if (gone < BATCH) break
      // the next batch after a turn of the event loop: the sessions' own reads and commits go in between
      yield* yieldToEventLoop
    }
    if (total > 0) {
      yield* Effect.logDebug(`log retention: deleted ${total} event(s) older than ${Duration.format(retention)}`)
    }
    return total
  })

  const interval = Duration.max(Duration.min(MAX_INTERVAL, Duration.times(retention, 0.25)), Duration.seconds(1))
  // the first pass at start (what aged while the runtime was down), then one per interval; a failed
  // pass is logged and tried again at the next
  yield* sweep.pipe(
    Effect.catchAll((e) => Effect.logWarning("log retention sweep failed", e)),
    Effect.repeat(Schedule.spaced(interval)),
    Effect.forkScoped
  )
  return LogRetention.of({ sweep })
})

/** The retention service, its schedule running for the layer's life. */
export const layer: Layer.Layer<LogRetention, never, EventLog | RuntimeConfig> = Layer.scoped(LogRetention, make)
