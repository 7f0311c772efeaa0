/**
 * The Scheduler service on its own (memory log and store, TestClock): months of recurring firings
 * in milliseconds, following a time zone across DST, delivered to the scheduling session while it
 * is registered, each firing a job of its own recorded in the log.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option, Queue, TestClock } from "effect"
import * as DemoTools from "../../src/cli/demoTools.js"
import { make as makeEnvelope } from "../../src/protocol/Envelope.js"
import { SessionId } from "../../src/protocol/Ids.js"
import type { Decoded } from "../../src/protocol/Message.js"
import type { TrustLevel } from "../../src/protocol/messages/Common.js"
import * as Artifacts from "../../src/runtime/artifacts/Artifacts.js"
import * as Events from "../../src/runtime/events/Events.js"
import * as HumanInput from "../../src/runtime/HumanInput.js"
import * as Jobs from "../../src/runtime/jobs/Jobs.js"
import * as Permissions from "../../src/runtime/permissions/Permissions.js"
import * as RuntimeConfig from "../../src/runtime/RuntimeConfig.js"
import * as Scheduler from "../../src/runtime/scheduler/Scheduler.js"
import * as Sessions from "../../src/runtime/Sessions.js"
import * as Streams from "../../src/runtime/Streams.js"
import * as Tools from "../../src/runtime/Tools.js"
import { EventLog, readAll } from "../../src/store/EventLog.js"
import * as MemoryArtifactStore from "../../src/store/MemoryArtifactStore.js"
import * as MemoryEventLog from "../../src/store/MemoryEventLog.js"
import { ScheduleStore } from "../../src/store/ScheduleStore.js"
import { queueOwner } from "../support/Harness.js"

const SESSION = SessionId.make("sess_sched")

/** A tool only privileged sessions may run (§15.3). */
const vault = Tools.make({
  name: "vault",
  parameters: Tools.AnyArguments,
  minimumTrust: "privileged",
  handler: () => Effect.succeed({ opened: true })
})

const services = Scheduler.layer.pipe(
  Layer.provideMerge(Jobs.layer),
  Layer.provideMerge(Permissions.layer),
  Layer.provideMerge(Artifacts.layer.pipe(Layer.provide(MemoryArtifactStore.layer))),
  Layer.provideMerge(
    Layer.mergeAll(Tools.layer([...DemoTools.all, vault]), HumanInput.layer, Streams.layer, Sessions.layer)
  ),
  // the artifact retention sweep is a timer too: jumping the TestClock to 2026 would run it every minute since 1970
  Layer.provideMerge(RuntimeConfig.layer({ artifactSweepInterval: "36500 days", instanceHeartbeat: 0 })),
  Layer.provideMerge(Events.layer),
  Layer.provideMerge(MemoryEventLog.layer)
)

/** The scheduling session: registered as live, its messages in a queue. */
const makeOwner = Effect.gen(function*() {
  const inbox = yield* Queue.unbounded<Decoded>()
  const sessions = yield* Sessions.Sessions
  yield* sessions.register({
    id: SESSION,
    principal: Effect.succeed({ id: "alice", scheme: "bearer" }),
    capabilities: {},
    refresh: () => Effect.void,
    evict: () => Effect.void,
    buffer: {
      usage: Effect.succeed({ envelopes: 0, bytes: 0, transportBytes: 0, waiting: 0, uncommitted: 0, shed: 0 }),
      backedUp: Effect.never
    }
  })
  const owner = queueOwner(SESSION, inbox)
  return { owner, inbox, sessions }
})

const scheduleMessage = (when: Record<string, unknown>, tool = "echo") =>
  makeEnvelope("job.schedule", { job: { type: "tool.invoke", payload: { tool, arguments: {} } }, when }, {
    session_id: SESSION
  })

/** One adjust: TestClock runs every sleep due by then in order, including those the woken fibers start. */
const advance = (span: `${number} days`) =>
  Effect.zipRight(TestClock.adjust(span), Effect.repeatN(Effect.yieldNow(), 10))

describe("Scheduler", () => {
  it.scoped(
    "R10.6-4 R4.3-6 four months of daily firings in a time zone, across DST, each a job of its own; TestClock drives them",
    () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(Date.UTC(2026, 0, 1))
        const scheduler = yield* Scheduler.Scheduler
        const { inbox, owner } = yield* makeOwner
        const message = yield* scheduleMessage({
          every: "DTSTART;TZID=Europe/Paris:20260101T060000\nRRULE:FREQ=DAILY;COUNT=120"
        })
        yield* scheduler.schedule(message, owner)
        const answer = yield* Queue.take(inbox)
        assert.strictEqual(answer.type, "job.accepted")
        const scheduleId = String(answer.job_id ?? Reflect.get(answer.payload, "job_id"))
        assert.match(scheduleId, /^sch_/)
        yield* advance("125 days")
        const all = yield* Queue.takeAll(inbox)
        const started = [...all].filter((m) => m.type === "job.started").map((m) =>
          String(Reflect.get(m.payload, "started_at"))
        )
        const done = [...all].filter((m) => m.type === "job.completed")
        assert.strictEqual(started.length, 120)
        assert.strictEqual(done.length, 120)
        assert.strictEqual(new Set(done.map((m) => m.job_id)).size, 120, "every firing its own job")
        assert.isTrue([...all].every((m) => m.causation_id === message.id), "every event names the job.schedule")
        assert.strictEqual(started[0], "2026-01-01T05:00:00.000Z")
        // Paris moves to summer time on 29 March: 06:00 there is 04:00 UTC from then on
        assert.include(started, "2026-03-28T05:00:00.000Z")
        assert.include(started, "2026-03-29T04:00:00.000Z")
        assert.strictEqual(started.at(-1), "2026-04-30T04:00:00.000Z")
        const record = yield* Effect.flatMap(ScheduleStore, (s) => s.get(scheduleId))
        assert.deepStrictEqual(Option.map(record, (r) => [r.state, r.fire_count]), Option.some(["done", 120]))
        const log = yield* EventLog
        const lastJob = done.at(-1)?.job_id ?? ""
        assert.deepStrictEqual(Option.map(yield* log.getJob(lastJob), (j) => j.state), Option.some("completed"))
      }).pipe(Effect.provide(services)),
    30_000
  )

  it.scoped(
    "R10.6-1 a year of monthly firings; once the session is gone they run detached, logged under it",
    () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(Date.UTC(2026, 0, 1))
        const scheduler = yield* Scheduler.Scheduler
        const { inbox, owner, sessions } = yield* makeOwner
        const message = yield* scheduleMessage({ every: "FREQ=MONTHLY;BYMONTHDAY=1;BYHOUR=3;BYMINUTE=0;BYSECOND=0" })
        // as the connection does: the session's first inbound envelope makes it alice's in the log
        yield* Effect.flatMap(EventLog, (l) =>
          l.recordInbound("alice", [{
            id: message.id,
            type: message.type,
            session_id: SESSION,
            timestamp: message.timestamp,
            json: JSON.stringify(message)
          }]))
        yield* scheduler.schedule(message, owner)
        yield* Queue.take(inbox)
        yield* advance("40 days")
        const delivered = yield* Queue.takeAll(inbox)
        assert.strictEqual([...delivered].filter((m) => m.type === "job.completed").length, 2, "Jan 1 and Feb 1")
        yield* sessions.unregister(SESSION)
        yield* advance("330 days")
        assert.strictEqual((yield* Queue.takeAll(inbox)).length, 0, "nothing to a session that is gone")
        const logged = (yield* Effect.flatMap(EventLog, (l) => readAll(l, { session_id: [SESSION] }))).filter((e) =>
          e.type === "job.completed"
        )
        assert.strictEqual(logged.length, 11, "Mar 1 2026 .. Jan 1 2027, in the log under the scheduling session")
      }).pipe(Effect.provide(services)),
    30_000
  )

  it.scoped(
    "R10.6-1 a detached firing runs at the scheduling session's trust level (stored with the schedule)",
    () =>
      Effect.gen(function*() {
        const scheduler = yield* Scheduler.Scheduler
        const store = yield* ScheduleStore
        const { inbox, owner, sessions } = yield* makeOwner
        const scheduleAs = (trustLevel: TrustLevel) =>
          Effect.gen(function*() {
            yield* scheduler.schedule(yield* scheduleMessage({ after: 60 }, "vault"), { ...owner, trustLevel })
            const accepted = yield* Queue.take(inbox)
            assert.strictEqual(accepted.type, "job.accepted")
            return String(Reflect.get(accepted.payload, "job_id"))
          })
        const privileged = yield* scheduleAs("privileged")
        const constrained = yield* scheduleAs("constrained")
        // the session goes before the firings: they run detached, with no session to take a level from
        yield* sessions.unregister(SESSION)
        yield* advance("1 days")
        const fired = (id: string) => Effect.map(store.get(id), (r) => Option.getOrUndefined(r)?.fire_count)
        assert.strictEqual(yield* fired(privileged), 1, "the privileged session's schedule runs the privileged tool")
        assert.strictEqual(yield* fired(constrained), 0, "a constrained session's schedule cannot run it detached")
      }).pipe(Effect.provide(services)),
    30_000
  )
})
