/**
 * bench/schedules: 10,000 pending schedules. Memory: heap per schedule armed in
 * the Scheduler (a record plus a sleeping fiber), against the baseline of the
 * same records held by the store alone. Next-firing lookup: the store's indexed
 * `earliest` on SQLite against loading every active schedule, and a recurrence's
 * `next` (RRULE expansion, after 30 days of firings) against a one-off's.
 */
import { Effect, Either, Layer } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { performance } from "node:perf_hooks"
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"
import * as DemoTools from "../src/cli/demoTools.js"
import { make as makeEnvelope } from "../src/protocol/Envelope.js"
import { SessionId } from "../src/protocol/Ids.js"
import * as Artifacts from "../src/runtime/artifacts/Artifacts.js"
import * as Events from "../src/runtime/events/Events.js"
import * as HumanInput from "../src/runtime/HumanInput.js"
import type { Owner } from "../src/runtime/jobs/Job.js"
import * as Jobs from "../src/runtime/jobs/Jobs.js"
import * as Permissions from "../src/runtime/permissions/Permissions.js"
import * as RuntimeConfig from "../src/runtime/RuntimeConfig.js"
import * as Scheduler from "../src/runtime/scheduler/Scheduler.js"
import { plan } from "../src/runtime/scheduler/When.js"
import * as Sessions from "../src/runtime/Sessions.js"
import * as Streams from "../src/runtime/Streams.js"
import * as Tools from "../src/runtime/Tools.js"
import * as MemoryArtifactStore from "../src/store/MemoryArtifactStore.js"
import * as MemoryEventLog from "../src/store/MemoryEventLog.js"
import { type ScheduleRecord, ScheduleStore } from "../src/store/ScheduleStore.js"
import * as SqliteEventLog from "../src/store/SqliteEventLog.js"

const N = 10_000
setFlagsFromString("--expose-gc")
const gc: () => void = runInNewContext("gc")
const heap = () => {
  gc()
  gc()
  return process.memoryUsage().heapUsed
}
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`

const record = (i: number, now: number): ScheduleRecord => ({
  schedule_id: `sch_${String(i).padStart(8, "0")}`,
  principal: `p${i % 10}`,
  session_id: "sess_bench",
  command_id: `msg_${i}`,
  job: JSON.stringify({ type: "tool.invoke", payload: { tool: "echo", arguments: { i } } }),
  when: JSON.stringify({ every: "FREQ=DAILY;BYHOUR=6;BYMINUTE=0;BYSECOND=0" }),
  missed: "run_once",
  state: "active",
  next_fire_at: now + 3_600_000 + i * 1000,
  fire_count: 0,
  created_at: now,
  updated_at: now
})

const services = Scheduler.layer.pipe(
  Layer.provideMerge(Jobs.layer),
  Layer.provideMerge(Permissions.layer),
  Layer.provideMerge(Artifacts.layer.pipe(Layer.provide(MemoryArtifactStore.layer))),
  Layer.provideMerge(
    Layer.mergeAll(
      Tools.layer(DemoTools.all),
      HumanInput.layer,
      Streams.layer,
      Sessions.layer
    )
  ),
  Layer.provideMerge(RuntimeConfig.layer({ maxSchedulesPerPrincipal: N })),
  Layer.provideMerge(Events.layer),
  Layer.provideMerge(MemoryEventLog.layer)
)

/** Heap of N schedules: in the store only (baseline), and armed in the scheduler. */
const memory = Effect.gen(function*() {
  const store = yield* ScheduleStore
  const now = Date.now()
  const before = heap()
  for (let i = 0; i < N; i++) yield* store.save(record(i, now))
  const stored = heap() - before
  const scheduler = yield* Scheduler.Scheduler
  const owner: Owner = {
    sessionId: SessionId.make("sess_bench"),
    principal: "bench",
    sink: () => Effect.void,
    heartbeatIntervalSeconds: 30,
    trustLevel: "trusted",
    humanInput: false
  }
  const armedBefore = heap()
  const start = performance.now()
  for (let i = 0; i < N; i++) {
    const message = yield* makeEnvelope("job.schedule", {
      job: { type: "tool.invoke", payload: { tool: "echo", arguments: { i } } },
      when: { every: "FREQ=DAILY;BYHOUR=6;BYMINUTE=0;BYSECOND=0" }
    })
    yield* scheduler.schedule(message, owner)
  }
  const elapsed = performance.now() - start
  const armed = heap() - armedBefore
  console.log(`  ${N} records in the memory store (baseline): ${mb(stored)}, ${Math.round(stored / N)} B each`)
  console.log(
    `  ${N} schedules accepted and armed: ${mb(armed)}, ${Math.round(armed / N)} B each ` +
      `(${(armed / stored).toFixed(1)}x the record alone); ${(N / (elapsed / 1000)).toFixed(0)} accepted/s`
  )
}).pipe(Effect.scoped, Effect.provide(services))

const time = (label: string, runs: number, effect: Effect.Effect<unknown, unknown>) =>
  Effect.gen(function*() {
    yield* effect
    const start = performance.now()
    for (let i = 0; i < runs; i++) yield* effect
    const us = ((performance.now() - start) * 1000) / runs
    console.log(`  ${label}: ${us.toFixed(1)} µs`)
    return us
  })

/** The store's next-firing lookup with N pending schedules on SQLite. */
const sqlite = Effect.gen(function*() {
  const dir = mkdtempSync(join(tmpdir(), "arcp-bench-sched-"))
  yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
  yield* Effect.gen(function*() {
    const store = yield* ScheduleStore
    const now = Date.now()
    const start = performance.now()
    yield* Effect.forEach(Array.from({ length: N }, (_, i) => record(i, now)), store.save, { discard: true })
    console.log(`  SQLite: ${N} schedules saved in ${(performance.now() - start).toFixed(0)} ms`)
    const earliest = yield* time("SQLite earliest (indexed next firing)", 200, store.earliest)
    const active = yield* time(`SQLite all ${N} active (what a restart loads)`, 5, store.active)
    const perPrincipal = yield* time("SQLite one principal's active (1,000)", 20, store.listActive("p3"))
    console.log(
      `  ratio: loading all / earliest = ${(active / earliest).toFixed(0)}x; one principal / earliest = ${
        (perPrincipal / earliest).toFixed(0)
      }x`
    )
  }).pipe(Effect.provide(SqliteEventLog.layer({ filename: join(dir, "events.db") })))
}).pipe(Effect.scoped)

/** A plan's `next`: a one-off (baseline), a recurrence after 30 days of firings, in UTC and in a zone. */
const expansion = Effect.gen(function*() {
  const now = Date.UTC(2026, 0, 1)
  const later = now + 30 * 86_400_000
  const planOf = (when: Parameters<typeof plan>[0]) => Either.getOrThrow(plan(when, now, 60_000)).plan
  const once = planOf({ after: 86_400 * 60 })
  const fiveMinutes = planOf({ every: "FREQ=MINUTELY;INTERVAL=5" })
  const daily = planOf({ every: "DTSTART;TZID=Europe/Paris:20260101T060000\nRRULE:FREQ=DAILY" })
  const base = yield* time("next of a one-off (baseline)", 100_000, Effect.sync(() => once.next(later)))
  const fromStart = yield* time(
    "next of FREQ=MINUTELY;INTERVAL=5 after 30 days, expanded from DTSTART (8,640 firings in)",
    20,
    Effect.sync(() => fiveMinutes.next(later))
  )
  const minutely = yield* time(
    "the same, anchored at the firing just made (what the scheduler does)",
    2000,
    Effect.sync(() => fiveMinutes.next(later, later))
  )
  const zoned = yield* time(
    "next of a daily rule with TZID after 30 days, anchored",
    2000,
    Effect.sync(() => daily.next(later, Date.UTC(2026, 0, 31, 5)))
  )
  console.log(
    `  ratio to the one-off: ${(fromStart / base).toFixed(0)}x (5-minutely from DTSTART), ${
      (minutely / base).toFixed(0)
    }x (anchored), ${(zoned / base).toFixed(0)}x (daily, zoned, anchored)`
  )
})

console.log(`bench/schedules (${N} pending schedules)`)
await Effect.runPromise(memory)
await Effect.runPromise(sqlite)
await Effect.runPromise(expansion)
