/**
 * Scheduled jobs (RFC §10.6, R4.3-6) over the memory transport, driven by TestClock: each `when`
 * form, refusals with their reasons, months of recurring firings across a DST change, cancel,
 * the listing extension, firings after the scheduling session is gone, and the missed-firing
 * policy across a restart on a real SQLite file.
 */
import { assert, describe, it } from "@effect/vitest"
import { type Duration, Effect, Fiber, type Layer, Option, type Scope, Stream, TestClock } from "effect"
import { join } from "node:path"
import type * as Client from "../../../src/client/Client.js"
import type { Decoded } from "../../../src/protocol/Message.js"
import { SCHEDULES_EXTENSION } from "../../../src/protocol/messages/Execution.js"
import { EventLog, readAll } from "../../../src/store/EventLog.js"
import { ScheduleStore } from "../../../src/store/ScheduleStore.js"
import * as SqliteEventLog from "../../../src/store/SqliteEventLog.js"
import { field, memory, open, serverLayer } from "../../support/Harness.js"
import { tempDir } from "../../support/TempDir.js"

const JAN_1 = Date.UTC(2026, 0, 1)
/** Long enough that no session is evicted or asked to re-authenticate while months go by. */
// the artifact and log retention sweeps are timers too: jumping the TestClock to 2026 would run them every minute
// (every hour) since 1970
const LONG = {
  idleTimeout: "3650 days",
  sessionLease: "3650 days",
  artifactSweepInterval: "36500 days",
  logRetention: Infinity,
  instanceHeartbeat: 0
} as const

const server = (
  eventLog?: Parameters<typeof serverLayer>[0]["eventLog"],
  runtime: Parameters<typeof serverLayer>[0]["runtime"] = {}
) =>
  serverLayer({ transport: memory, runtime: { ...LONG, ...runtime }, ...(eventLog !== undefined ? { eventLog } : {}) })

const withExtension = { capabilities: { extensions: [SCHEDULES_EXTENSION] } }

/** Collects a schedule's firings in the background. */
const watch = (firings: Stream.Stream<Decoded>) =>
  Effect.gen(function*() {
    const seen: Array<Decoded> = []
    const fiber = yield* firings.pipe(Stream.runForEach((m) => Effect.sync(() => seen.push(m))), Effect.fork)
    return { seen, fiber }
  })

/**
 * Moves the clock by `span` (TestClock runs every sleep due by then, in order), then lets woken
 * fibers run. Spans stay short here: the client's request sweeper wakes every second.
 */
const advance = (span: Duration.DurationInput) =>
  Effect.zipRight(TestClock.adjust(span), Effect.repeatN(Effect.yieldNow(), 10))

const completed = (seen: ReadonlyArray<Decoded>) => seen.filter((m) => m.type === "job.completed")
const startedAt = (seen: ReadonlyArray<Decoded>) =>
  seen.filter((m) => m.type === "job.started").map((m) => String(field(m, "started_at")))

const refusal = (session: Client.Session, when: Client.ScheduleWhen, tool = "echo") =>
  Effect.flip(session.schedule(tool, {}, when)).pipe(
    Effect.map((e) => (e._tag === "ArcpError" ? [e.code, e.message] : [e._tag, e.message]))
  )

describe("scheduled jobs", { timeout: 30_000 }, () => {
  it.scoped("R10.6-1 R10.6-3 scheduled_jobs is advertised; after: the answer names the schedule, one firing is a normal job caused by it", () =>
    Effect.gen(function*() {
      const session = yield* open({ capabilities: { scheduled_jobs: true } })
      assert.isTrue(session.capabilities.scheduled_jobs)
      const schedule = yield* session.schedule("echo", { hello: "later" }, { after: 60 })
      assert.match(schedule.scheduleId, /^sch_/)
      const { seen } = yield* watch(schedule.firings)
      yield* advance("59 seconds")
      assert.strictEqual(seen.length, 0, "nothing fires before its time")
      yield* advance("1 second")
      const types = seen.map((m) => m.type)
      assert.deepStrictEqual(types.filter((t) => t.startsWith("job.")), [
        "job.accepted",
        "job.started",
        "job.completed"
      ])
      const [accepted] = seen
      assert.match(String(accepted?.job_id), /^job_/)
      assert.notStrictEqual(accepted?.job_id, schedule.scheduleId)
      assert.isTrue(seen.every((m) => m.causation_id === schedule.commandId && m.job_id === accepted?.job_id))
      assert.deepStrictEqual(field(completed(seen)[0], "result"), { hello: "later" })
      assert.deepStrictEqual(startedAt(seen), ["1970-01-01T00:01:00.000Z"])
      // a one-off schedule is done after its firing: cancelling it is refused already_terminal
      assert.strictEqual(field(yield* schedule.cancel, "reason"), "already_terminal")
    }).pipe(Effect.provide(server())))

  it.scoped("R10.6-5 at: fires once at that instant, recorded in the log and in the job record", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(JAN_1)
      const session = yield* open()
      const schedule = yield* session.schedule("echo", { n: 1 }, { at: "2026-01-01T00:01:30Z" })
      const { seen } = yield* watch(schedule.firings)
      yield* advance("89 seconds")
      assert.strictEqual(seen.length, 0)
      yield* advance("1 second")
      assert.deepStrictEqual(startedAt(seen), ["2026-01-01T00:01:30.000Z"])
      const jobId = completed(seen)[0]?.job_id ?? ""
      const log = yield* EventLog
      const record = yield* log.getJob(jobId)
      assert.deepStrictEqual(
        Option.map(record, (r) => [r.state, r.command_id]),
        Option.some(["completed", schedule.commandId])
      )
      assert.deepStrictEqual(
        (yield* readAll(log, { job_id: [jobId], direction: "out" })).map((e) => e.type).filter((t) =>
          t.startsWith("job.")
        ),
        [
          "job.accepted",
          "job.started",
          "job.completed"
        ]
      )
    }).pipe(Effect.provide(server())))

  it.scoped("R10.6-2 R10.6-4 bad schedules are refused INVALID_ARGUMENT with the reason", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(JAN_1)
      const session = yield* open()
      const cases: ReadonlyArray<[Client.ScheduleWhen, string]> = [
        [{ at: "2026-01-01T00:00:00Z", after: 5 }, "exactly one of at, every, after"],
        [{}, "exactly one of at, every, after"],
        [{ at: "2025-12-31T23:59:59Z" }, "in the past"],
        [{ every: "DTSTART:20251201T000000Z\nRRULE:FREQ=DAILY;COUNT=3" }, "never fires"],
        [{ every: "FREQ=DAILY;UNTIL=20251231T000000Z" }, "never fires"],
        [{ every: "FREQ=SECONDLY;INTERVAL=30" }, "more often than the minimum interval of 60 s"],
        [{ every: "DTSTART;TZID=Mars/Olympus:20260101T060000\nRRULE:FREQ=DAILY" }, "unknown time zone"],
        [{ every: "FREQ=FORTNIGHTLY" }, "FREQ"]
      ]
      for (const [when, reason] of cases) {
        const [code, message] = yield* refusal(session, when)
        assert.strictEqual(code, "INVALID_ARGUMENT", JSON.stringify(when))
        assert.include(message, reason, JSON.stringify(when))
      }
      assert.deepStrictEqual((yield* refusal(session, { after: 5 }, "no_such_tool"))[0], "NOT_FOUND")
      const wrongJob = yield* Effect.flip(session.request("job.schedule", {
        job: { type: "workflow.start", payload: { workflow: "w" } },
        when: { after: 5 }
      }))
      assert.include(wrongJob.message, "only tool.invoke jobs can be scheduled")
      // the session carries on
      yield* session.ping
    }).pipe(Effect.provide(server())))

  it.scoped("R10.6-1 cancel with the schedule as target stops its firings; another principal cannot cancel it", () =>
    Effect.gen(function*() {
      const session = yield* open(withExtension)
      const schedule = yield* session.schedule("echo", {}, { every: "FREQ=SECONDLY;INTERVAL=5" })
      const { seen } = yield* watch(schedule.firings)
      // no DTSTART: the rule starts at acceptance, so it fires at once, then every 5 seconds
      yield* advance("10 seconds")
      assert.strictEqual(completed(seen).length, 3)
      const bob = yield* open({ credentials: { scheme: "bearer", token: "other-token" } })
      const refused = yield* bob.request("cancel", { target: "job", target_id: schedule.scheduleId })
      assert.deepStrictEqual([refused.type, field(refused, "reason")], ["cancel.refused", "not_found"])
      const answer = yield* schedule.cancel
      assert.deepStrictEqual([answer.type, field(answer, "target_id")], ["cancel.accepted", schedule.scheduleId])
      yield* advance("30 seconds")
      assert.strictEqual(completed(seen).length, 3, "no firing after the cancel")
      assert.strictEqual(field(yield* schedule.cancel, "reason"), "already_terminal")
      assert.deepStrictEqual(yield* session.listSchedules, [])
      const store = yield* ScheduleStore
      const record = yield* store.get(schedule.scheduleId)
      assert.deepStrictEqual(Option.map(record, (r) => [r.state, r.fire_count]), Option.some(["cancelled", 3]))
    }).pipe(Effect.provide(server(undefined, { scheduleMinInterval: "5 seconds" }))))

  it.scoped("R10.6-1 the listing extension names the principal's active schedules, soonest first, and only theirs", () =>
    Effect.gen(function*() {
      const session = yield* open(withExtension)
      const later = yield* session.schedule("echo", {}, { after: 3600 }, { missed: "skip" })
      const sooner = yield* session.schedule("echo", {}, { after: 60 })
      const listed = (yield* session.listSchedules).map((s) => Object(s))
      assert.deepStrictEqual(listed.map((s) => Reflect.get(s, "schedule_id")), [sooner.scheduleId, later.scheduleId])
      assert.deepStrictEqual(listed.map((s) => Reflect.get(s, "missed")), ["run_once", "skip"])
      assert.deepStrictEqual(Reflect.get(listed[0], "job"), {
        type: "tool.invoke",
        payload: { tool: "echo", arguments: {} }
      })
      const bob = yield* open({ credentials: { scheme: "bearer", token: "other-token" }, ...withExtension })
      assert.deepStrictEqual(yield* bob.listSchedules, [])
      // without the extension negotiated, the listing is refused
      const plain = yield* open()
      const error = yield* Effect.flip(plain.listSchedules)
      assert.strictEqual(error._tag === "ArcpError" ? error.code : error._tag, "UNIMPLEMENTED")
    }).pipe(Effect.provide(server())))

  it.scoped("R6.4-6 R10.6-1 a job.schedule repeated with its idempotency_key names the same schedule and makes no other", () =>
    Effect.gen(function*() {
      const session = yield* open(withExtension)
      const first = yield* session.schedule("echo", {}, { after: 600 }, { idempotency_key: "nightly-report" })
      const other = yield* open(withExtension)
      const again = yield* other.schedule("echo", {}, { after: 600 }, { idempotency_key: "nightly-report" })
      assert.strictEqual(again.scheduleId, first.scheduleId)
      assert.deepStrictEqual((yield* session.listSchedules).map((s) => Reflect.get(Object(s), "schedule_id")), [
        first.scheduleId
      ])
    }).pipe(Effect.provide(server())))

  it.scoped("R10.6-1 R4.3-6 a firing after the scheduling session closed runs detached and is recorded under that session", () =>
    Effect.gen(function*() {
      const log = yield* EventLog
      const first = yield* Effect.scoped(Effect.gen(function*() {
        const session = yield* open()
        const schedule = yield* session.schedule("echo", { x: 1 }, { after: 60 })
        yield* session.close()
        return { sessionId: session.id, schedule }
      }))
      yield* advance("60 seconds")
      const events = yield* readAll(log, { session_id: [first.sessionId] })
      const firing = events.filter((e) =>
        e.direction === "out" && e.job_id !== undefined &&
        e.job_id !== first.schedule.scheduleId
      )
      assert.deepStrictEqual(firing.map((e) => e.type).filter((t) => t.startsWith("job.")), [
        "job.accepted",
        "job.started",
        "job.completed"
      ])
      const store = yield* ScheduleStore
      const record = yield* store.get(first.schedule.scheduleId)
      assert.deepStrictEqual(
        Option.map(record, (r) => [r.state, r.fire_count, r.last_job_id]),
        Option.some(["done", 1, firing[0]?.job_id])
      )
    }).pipe(Effect.provide(server())))

  describe("restart", () => {
    const dbFile = Effect.map(tempDir("arcp-sched-"), (dir) => join(dir, "events.db"))
    /** Runs `body` on a runtime over `file`, then shuts that runtime down. */
    const onRuntime = <A, E>(
      file: string,
      body: Effect.Effect<A, E, Scope.Scope | Layer.Layer.Success<ReturnType<typeof server>>>
    ) => Effect.scoped(body.pipe(Effect.provide(server(SqliteEventLog.layer({ filename: file })))))

    it.scoped("R4.3-6 missed firings: run_once runs one at start, skip runs none; both go on at their next firing", () =>
      Effect.gen(function*() {
        const db = yield* dbFile
        yield* TestClock.setTime(JAN_1 + 10 * 60_000)
        const ids = yield* onRuntime(
          db,
          Effect.gen(function*() {
            const session = yield* open()
            const runOnce = yield* session.schedule("echo", {}, { every: "FREQ=HOURLY;BYMINUTE=0;BYSECOND=0" })
            const skip = yield* session.schedule("echo", {}, { every: "FREQ=HOURLY;BYMINUTE=0;BYSECOND=0" }, {
              missed: "skip"
            })
            return { runOnce: runOnce.scheduleId, skip: skip.scheduleId }
          })
        )
        // down until 05:30: the firings of 01:00 .. 05:00 were missed
        yield* TestClock.setTime(JAN_1 + 5.5 * 3_600_000)
        yield* onRuntime(
          db,
          Effect.gen(function*() {
            const store = yield* ScheduleStore
            const read = (id: string) => Effect.map(store.get(id), Option.map((r) => [r.fire_count, r.next_fire_at]))
            const nextHour = Date.UTC(2026, 0, 1, 6)
            assert.deepStrictEqual(
              yield* read(ids.runOnce),
              Option.some([1, nextHour]),
              "run_once: one firing at start"
            )
            assert.deepStrictEqual(yield* read(ids.skip), Option.some([0, nextHour]), "skip: none")
            yield* advance("30 minutes")
            assert.deepStrictEqual(yield* read(ids.runOnce), Option.some([2, nextHour + 3_600_000]))
            assert.deepStrictEqual(yield* read(ids.skip), Option.some([1, nextHour + 3_600_000]))
            const log = yield* EventLog
            const record = yield* store.get(ids.runOnce)
            const lastJob = Option.flatMap(record, (r) => Option.fromNullable(r.last_job_id))
            const job = yield* log.getJob(Option.getOrElse(lastJob, () => "none"))
            assert.deepStrictEqual(Option.map(job, (j) => j.state), Option.some("completed"))
          })
        )
      }))
  })

  it.scoped("R10.6-1 a firing whose session still lives goes to that session; its scope ends the watch", () =>
    Effect.gen(function*() {
      const session = yield* open()
      const schedule = yield* session.schedule("flaky", { fail_times: 1 }, { after: 1 })
      const { fiber, seen } = yield* watch(schedule.firings)
      yield* advance("1 second")
      yield* advance("100 millis")
      // a scheduled job retries like any other: one log event, then job.completed with attempts 2
      assert.strictEqual(seen.filter((m) => m.type === "log").length, 1)
      assert.deepStrictEqual(field(completed(seen)[0], "result"), { attempts: 2 })
      yield* Fiber.interrupt(fiber)
    }).pipe(Effect.provide(server())))
})
