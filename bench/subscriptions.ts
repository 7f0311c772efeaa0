/**
 * bench/subscriptions: subscription fan-out (§13) over a real WebSocket — one
 * producer (the ticker tool), 1 / 10 / 100 subscribers on their own
 * connections: events/s delivered and p99 lag (the event's timestamp to its
 * arrival at a subscriber) — against a baseline in the same run, the
 * producer's own session with no subscriber; then backfill speed (events/s
 * read back from the log through `since`), on the memory log and a SQLite
 * file. Prints numbers; asserts nothing.
 */
import { Effect, Layer, Logger, LogLevel, Stream } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { performance } from "node:perf_hooks"
import * as DemoTools from "../src/cli/demoTools.js"
import * as Client from "../src/client/Client.js"
import { isBackfillComplete } from "../src/client/session/Subscription.js"
import * as Auth from "../src/runtime/auth/Auth.js"
import * as Runtime from "../src/runtime/Runtime.js"
import * as Tools from "../src/runtime/Tools.js"
import type { EventLog, EventLogError } from "../src/store/EventLog.js"
import * as MemoryArtifactStore from "../src/store/MemoryArtifactStore.js"
import * as MemoryEventLog from "../src/store/MemoryEventLog.js"
import type { ScheduleStore } from "../src/store/ScheduleStore.js"
import * as SqliteEventLog from "../src/store/SqliteEventLog.js"
import { Acceptor } from "../src/transport/Transport.js"
import * as WebSocket from "../src/transport/WebSocket.js"

const EVENTS = Number(process.env["BENCH_EVENTS"] ?? 1000)

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0

const serverOn = (eventLog: Layer.Layer<EventLog | ScheduleStore, EventLogError>) =>
  Runtime.serve.pipe(
    Layer.provideMerge(Runtime.layer({ maxSessions: 1024, idleTimeout: "1 hour" })),
    Layer.provide(
      Layer.mergeAll(
        Auth.layer({ audience: "arcp://runtime", bearer: new Map([["bench", "bench"]]) }),
        MemoryArtifactStore.layer,
        Tools.layer(DemoTools.all)
      )
    ),
    Layer.provideMerge(eventLog),
    Layer.provideMerge(WebSocket.layer({ port: 0 }))
  )

const row = (name: string, delivered: number, elapsedMs: number, lags: Array<number>, baseline?: number) => {
  lags.sort((a, b) => a - b)
  const rate = (delivered / elapsedMs) * 1000
  const ratio = baseline === undefined ? "" : `   ${(rate / baseline).toFixed(2)}x baseline`
  console.log(
    `${name.padEnd(40)} ${rate.toFixed(0).padStart(8)} events/s   p50 lag ${
      percentile(lags, 0.5).toFixed(1)
    } ms   p99 lag ${percentile(lags, 0.99).toFixed(1)} ms${ratio}`
  )
  return rate
}

const program = Effect.gen(function*() {
  const { address } = yield* Acceptor
  const open = Effect.flatMap(
    WebSocket.connect(address),
    (c) => Client.connect(c, { credentials: { scheme: "bearer", token: "bench" } })
  )
  const producer = yield* open

  /** Runs the ticker and reads its events at each of `subscribers` (and at the producer): rate and lags. */
  const fanOut = (subscribers: number) =>
    Effect.scoped(Effect.gen(function*() {
      const sessions = yield* Effect.forEach(Array.from({ length: subscribers }), () => open, { concurrency: 16 })
      const readers = yield* Effect.forEach(sessions, (s) =>
        Effect.gen(function*() {
          const messages = yield* s.messages
          yield* s.request("subscribe", { filter: { session_id: [producer.id], types: ["job.progress"] } })
          return messages
        }), { concurrency: 16 })
      const lags: Array<number> = []
      const start = performance.now()
      const job = yield* producer.invoke("ticker", { count: EVENTS })
      const own = job.events.pipe(
        Stream.filter((m) => m.type === "job.progress"),
        Stream.take(EVENTS),
        Stream.runForEach((m) =>
          Effect.sync(() => subscribers === 0 && lags.push(Date.now() - Date.parse(m.timestamp)))
        )
      )
      yield* Effect.all([
        own,
        ...readers.map((messages) =>
          messages.pipe(
            Stream.filter((m) => m.type === "subscribe.event"),
            Stream.take(EVENTS),
            Stream.runForEach((m) =>
              Effect.sync(() => {
                const event: unknown = Reflect.get(m.payload, "event")
                const at = typeof event === "object" && event !== null ? Reflect.get(event, "timestamp") : undefined
                if (typeof at === "string") lags.push(Date.now() - Date.parse(at))
              })
            )
          )
        )
      ], { concurrency: "unbounded", discard: true })
      return { elapsed: performance.now() - start, lags, jobId: job.jobId }
    }))

  const base = yield* fanOut(0)
  const baseline = row("no subscriber (the producer's own session)", EVENTS, base.elapsed, base.lags)
  for (const n of [1, 10, 100]) {
    const run = yield* fanOut(n)
    row(`${n} subscriber(s), ${EVENTS} events each`, n * EVENTS, run.elapsed, run.lags, baseline)
  }

  // backfill: everything the first job left in the log, read back through a subscription's since
  const reader = yield* open
  const start = performance.now()
  const backfilled = yield* reader.subscribe({ job_id: [base.jobId] }, {}).pipe(
    Stream.takeUntil(isBackfillComplete),
    Stream.runCount
  )
  const elapsed = performance.now() - start
  console.log(
    `${"backfill from the log (since)".padEnd(40)} ${
      ((backfilled / elapsed) * 1000).toFixed(0).padStart(8)
    } events/s   (${backfilled} events)`
  )
})

const dir = mkdtempSync(join(tmpdir(), "arcp-bench-subs-"))
const logs: ReadonlyArray<readonly [string, Layer.Layer<EventLog | ScheduleStore, EventLogError>]> = [
  ["memory log", MemoryEventLog.layer],
  ["SQLite file", SqliteEventLog.layer({ filename: join(dir, "events.db") })]
]
for (const [name, log] of logs) {
  console.log(
    `bench/subscriptions, ${name} (${EVENTS} ticker events per run; client and server share one Node process)`
  )
  await Effect.runPromise(
    program.pipe(Effect.provide(serverOn(log)), Effect.scoped, Logger.withMinimumLogLevel(LogLevel.None))
  )
}
rmSync(dir, { recursive: true, force: true })
