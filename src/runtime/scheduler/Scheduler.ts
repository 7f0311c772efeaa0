/**
 * Scheduled jobs (RFC §10.6, R4.3-6): `job.schedule` is checked, stored and
 * answered `job.accepted` naming the schedule (`sch_` id); each firing is a
 * normal job (its own job id, job.accepted .. job.completed/failed/cancelled)
 * whose events name the `job.schedule` message as their causation, delivered to
 * the scheduling session while it lives and logged under it always. One
 * scoped timer fiber waits (Effect sleeps, so TestClock drives it) for the
 * soonest firing of every armed schedule (a Timeline heap); the store keeps each
 * one's next firing, so a restart re-arms them and applies the schedule's
 * missed-firing policy.
 */
import { Clock, Context, Duration, Effect, Either, Layer, Option, ParseResult, Queue, Schema } from "effect"
import { make as makeEnvelope } from "../../protocol/Envelope.js"
import { ArcpError } from "../../protocol/Errors.js"
import { hasPrefix, JobId, makeScheduleId, MessageId, SessionId, TraceId } from "../../protocol/Ids.js"
import type { ExtensionMessage, Message } from "../../protocol/Message.js"
import { SCHEDULES_LIST, SCHEDULES_LISTED, ToolInvoke } from "../../protocol/messages/Execution.js"
import { fromMillis } from "../../protocol/Timestamp.js"
import { EventLog } from "../../store/EventLog.js"
import {
  type MissedPolicy,
  type ScheduleRecord,
  ScheduleStore,
  type ScheduleStoreError
} from "../../store/ScheduleStore.js"
import { commandDigest, keyReused } from "../internal/Repeats.js"
import { type Owner, refuseCancel } from "../jobs/Job.js"
import { Jobs } from "../jobs/Jobs.js"
import { RuntimeConfig } from "../RuntimeConfig.js"
import { Sessions } from "../Sessions.js"
import { ToolRegistry } from "../Tools.js"
import { claimFiring } from "./Firings.js"
import { decodeStoredJob, decodeStoredWhen, describe } from "./Records.js"
import * as Timeline from "./Timeline.js"
import { type Plan, plan } from "./When.js"

/** The extension message that lists the asking principal's active schedules, and its answer. */
export const LIST_TYPE = SCHEDULES_LIST
export const LISTED_TYPE = SCHEDULES_LISTED

/** The longest single sleep: JS timers cannot wait past ~24.8 days, and a shorter wait re-reads the clock. */
const MAX_SLEEP = Duration.hours(24)

export class Scheduler extends Context.Tag("arcp/Scheduler")<Scheduler, {
  /** Accepts a schedule (answered `job.accepted` with its `sch_` id) or refuses it INVALID_ARGUMENT with the reason. */
  readonly schedule: (message: Message<"job.schedule">, owner: Owner) => Effect.Effect<void, ArcpError>
  /** Whether `id` names a schedule (so `cancel {target: "job"}` of it is the schedule's cancel). */
  readonly isSchedule: (id: string) => boolean
  /** Cancels a schedule: no more firings; a firing already running is a job of its own (cancel it by its id). */
  readonly cancel: (message: Message<"cancel">, owner: Owner) => Effect.Effect<void, ArcpError>
  /** Answers `arcpx.arcp.schedules.v1.list` with the principal's active schedules. */
  readonly list: (message: ExtensionMessage, owner: Owner) => Effect.Effect<void, ArcpError>
}>() {}

const decodeInvoke = Schema.decodeUnknownEither(ToolInvoke)
const unavailable = (e: ScheduleStoreError) => ArcpError.of("UNAVAILABLE", `the schedule store failed: ${e.message}`)
const invalid = (reason: string) => ArcpError.of("INVALID_ARGUMENT", `job.schedule refused: ${reason}`)

export const make = Effect.gen(function*() {
  const store = yield* ScheduleStore
  const log = yield* EventLog
  const jobs = yield* Jobs
  const sessions = yield* Sessions
  const settings = yield* RuntimeConfig
  const tools = yield* ToolRegistry
  // the armed schedules: their records by id, and their next firings in order
  const armed = new Map<string, ScheduleRecord>()
  const timeline = Timeline.make()
  // tells the timer fiber a schedule was armed (it may fire sooner than what it waits for)
  const wake = yield* Queue.sliding<void>(1)
  // a firing (with its record update) and a cancel never interleave
  const lock = yield* Effect.makeSemaphore(1)
  // the sessions that scheduled something here, by id: firings go to them while they live
  const owners = new Map<string, Owner>()
  const minIntervalMs = Duration.toMillis(settings.scheduleMinInterval)

  /** Forgets the sessions that are gone, once there are many: firings would find them gone anyway. */
  const pruneOwners = Effect.suspend(() =>
    owners.size < 256 ?
      Effect.void :
      Effect.forEach([...owners.keys()], (id) =>
        Effect.map(sessions.get(SessionId.make(id)), (live) => {
          if (Option.isNone(live)) owners.delete(id)
        }), { discard: true })
  )

  /** The plan of a stored schedule (no minimum interval: it was checked when the schedule was accepted). */
  const planOf = (record: ScheduleRecord): Either.Either<Plan, string> =>
    Either.flatMap(
      Either.mapLeft(decodeStoredWhen(record.when), () => "its stored when is unreadable"),
      (when) => Either.map(plan(when, record.created_at, 0), (p) => p.plan)
    )

  /** The session to deliver a firing to: the scheduling one while it is live here, else none (detached). */
  const ownerFor = Effect.fnUntraced(function*(record: ScheduleRecord) {
    const owner = owners.get(record.session_id)
    if (owner === undefined) return undefined
    const live = yield* sessions.get(SessionId.make(record.session_id))
    if (Option.isNone(live)) {
      owners.delete(record.session_id)
      return undefined
    }
    return owner
  })

  /** Starts the firing's job; its failure to start is logged, and the schedule goes on. */
  const fire = Effect.fnUntraced(function*(record: ScheduleRecord) {
    const job = decodeStoredJob(record.job)
    if (Either.isLeft(job)) {
      yield* Effect.logError(`schedule ${record.schedule_id}: its stored job is unreadable`)
      return undefined
    }
    const live = yield* ownerFor(record)
    const owner: Owner = live ?? {
      sessionId: SessionId.make(record.session_id),
      principal: record.principal,
      sink: () => Effect.void,
      heartbeatIntervalSeconds: settings.heartbeatIntervalSeconds,
      // the scheduling session's level; a record without one runs at the least (fail closed)
      trustLevel: record.trust_level ?? "untrusted",
      // nobody to ask: a human request of a detached firing fails rather than waits
      humanInput: false
    }
    // the schedule's command stands for the invoke: each event of the firing names it as its causation
    const base = yield* makeEnvelope("tool.invoke", job.right.payload, {
      session_id: owner.sessionId,
      ...(record.trace_id !== undefined ? { trace_id: TraceId.make(record.trace_id) } : {})
    })
    const message: Message<"tool.invoke"> = { ...base, id: MessageId.make(record.command_id) }
    let started: JobId | undefined
    yield* jobs.invoke(message, owner, {
      scheduleId: record.schedule_id,
      detached: live === undefined,
      started: (id) =>
        Effect.sync(() => {
          started = id
        })
    }).pipe(
      Effect.catchAll((e) => Effect.logWarning(`schedule ${record.schedule_id}: its firing was refused: ${e.message}`))
    )
    return started
  })

  /** Saves the schedule's progress after a firing (or a skip): its next firing, or done. */
  const advance = (record: ScheduleRecord, next: number | undefined, now: number, jobId?: JobId) => {
    const { next_fire_at: _, ...rest } = record
    const updated: ScheduleRecord = {
      ...rest,
      state: next === undefined ? "done" : "active",
      ...(next !== undefined ? { next_fire_at: next } : {}),
      fire_count: record.fire_count + (jobId !== undefined ? 1 : 0),
      ...(jobId !== undefined ? { last_job_id: jobId } : {}),
      updated_at: now
    }
    return Effect.as(
      store.save(updated).pipe(
        Effect.catchAll((e) => Effect.logError(`cannot record schedule ${record.schedule_id}`, e))
      ),
      updated
    )
  }

  /** Arms an active schedule for its next firing. */
  const arm = (record: ScheduleRecord) =>
    Effect.suspend(() => {
      if (record.state !== "active" || record.next_fire_at === undefined) return Effect.void
      armed.set(record.schedule_id, record)
      timeline.arm(record.schedule_id, record.next_fire_at)
      return Queue.offer(wake, undefined)
    })

  /** Fires every schedule due at `now`, each then re-armed for its next firing (missed ones in between skipped). */
  const fireDue = (now: number): Effect.Effect<void> =>
    Effect.gen(function*() {
      for (let due = timeline.takeDue(now); due !== undefined; due = timeline.takeDue(now)) {
        const armedRecord = armed.get(due.id)
        armed.delete(due.id)
        if (armedRecord === undefined) continue
        const p = planOf(armedRecord)
        // expanded from the firing just made, not from the rule's start
        const next = Either.isRight(p) ? p.right.next(Math.max(now, due.at), due.at) : undefined
        // another runtime on the store fired it (or ended the schedule): follow it without firing
        const record = yield* claimFiring(log, store, armedRecord, due.at, now)
        if (Option.isNone(record)) {
          const later = next === undefined ? undefined : { ...armedRecord, next_fire_at: next }
          if (later !== undefined) yield* arm(later)
          continue
        }
        const jobId = yield* fire(record.value)
        yield* arm(yield* advance(record.value, next, now, jobId))
      }
    }).pipe(Effect.catchAllCause((cause) => Effect.logError("a schedule's firing failed", cause)))

  /**
   * The timer fiber: sleeps until the soonest firing (in steps of at most a day: JS timers
   * cannot wait longer than ~24.8 days) or until a schedule is armed, then fires what is due.
   */
  yield* Effect.gen(function*() {
    while (true) {
      const next = timeline.peek()
      if (next === undefined) {
        yield* Queue.take(wake)
        continue
      }
      const now = yield* Clock.currentTimeMillis
      if (next.at > now) {
        yield* Effect.raceFirst(Effect.sleep(Duration.min(Duration.millis(next.at - now), MAX_SLEEP)), Queue.take(wake))
        continue
      }
      // a firing and its record update are one step, also when the runtime stops
      yield* lock.withPermits(1)(Effect.uninterruptible(fireDue(now)))
    }
  }).pipe(Effect.forkScoped)

  /**
   * A schedule found at start: firings it missed while the runtime was down run once now
   * (`run_once`) or are skipped (`skip`); then it is armed for its next firing.
   */
  const resume = Effect.fnUntraced(function*(record: ScheduleRecord) {
    const p = planOf(record)
    if (Either.isLeft(p)) return yield* Effect.logError(`schedule ${record.schedule_id}: ${p.left}`)
    const now = yield* Clock.currentTimeMillis
    const due = record.next_fire_at
    if (due === undefined || due >= now) return yield* arm(record)
    const next = p.right.next(now, due)
    const policy: MissedPolicy = record.missed
    yield* Effect.logInfo(`schedule ${record.schedule_id} missed a firing while the runtime was down: ${policy}`)
    const claimed = policy === "run_once" ? yield* claimFiring(log, store, record, due, now) : Option.none()
    const advanced = Option.isSome(claimed)
      ? yield* Effect.flatMap(fire(claimed.value), (jobId) => advance(claimed.value, next, now, jobId))
      : yield* advance(record, next, now)
    yield* arm(advanced)
  })

  /** Arms the active schedules not armed here: at start all, then those other runtimes on the store created. */
  const armStored = Effect.flatMap(store.active, (all) =>
    lock.withPermits(1)(
      Effect.forEach(all.filter((r) => !armed.has(r.schedule_id)), resume, { discard: true })
    )).pipe(Effect.catchAll((e) => Effect.logError("cannot read the schedules to re-arm", e)))
  yield* armStored
  if (Duration.toMillis(settings.instanceHeartbeat) > 0) {
    yield* Effect.sleep(settings.instanceHeartbeat).pipe(Effect.zipRight(armStored), Effect.forever, Effect.forkScoped)
  }

  const answer = (
    owner: Owner,
    message: { readonly id: MessageId },
    type: "job.accepted",
    scheduleId: JobId,
    at: number
  ) =>
    Effect.flatMap(
      makeEnvelope(type, { job_id: scheduleId, accepted_at: fromMillis(at) }, {
        session_id: owner.sessionId,
        correlation_id: message.id,
        causation_id: message.id,
        priority: "critical"
      }),
      owner.sink
    )

  return Scheduler.of({
    isSchedule: (id) => hasPrefix(id, "schedule"),

    schedule: Effect.fnUntraced(function*(message, owner) {
      const { job, when } = message.payload
      if (job.type !== "tool.invoke") return yield* invalid(`only tool.invoke jobs can be scheduled, not ${job.type}`)
      const payload = decodeInvoke(job.payload)
      if (Either.isLeft(payload)) {
        return yield* invalid(`job.payload: ${ParseResult.TreeFormatter.formatErrorSync(payload.left)}`)
      }
      const tool = tools.get(payload.right.tool)
      if (Option.isNone(tool)) return yield* ArcpError.of("NOT_FOUND", `no tool named "${payload.right.tool}"`)
      const prepared = tool.value.prepare(payload.right.arguments)
      if (Either.isLeft(prepared)) return yield* prepared.left
      const now = yield* Clock.currentTimeMillis
      const planned = plan(when, now, minIntervalMs)
      if (Either.isLeft(planned)) return yield* invalid(planned.left)
      const count = yield* Effect.mapError(store.countActive(owner.principal), unavailable)
      if (count >= settings.maxSchedulesPerPrincipal) {
        return yield* ArcpError.of(
          "RESOURCE_EXHAUSTED",
          `${owner.principal} has ${count} active schedules, the most allowed; cancel one first`
        )
      }
      const id = yield* makeScheduleId
      // §6.4: the same idempotency_key again names the schedule it made, rather than making another
      const key = message.idempotency_key
      if (key !== undefined) {
        // a schedule's command: its tool, arguments and when (a key reused for another command is refused)
        const digest = yield* commandDigest(`job.schedule ${payload.right.tool}`, {
          arguments: payload.right.arguments ?? {},
          when,
          missed: message.payload.missed ?? "run_once"
        })
        const claim = yield* log.claimIdempotencyKey({
          principal: owner.principal,
          key,
          job_id: id,
          digest,
          now,
          expiresAt: now + Duration.toMillis(settings.idempotencyHorizon)
        }).pipe(
          Effect.mapError((e) => ArcpError.of("UNAVAILABLE", `cannot record the idempotency key: ${e.message}`))
        )
        if (claim._tag === "Existing") {
          if (claim.digest !== undefined && claim.digest !== digest) return yield* keyReused(key)
          const earlier = yield* Effect.mapError(store.get(claim.job_id), unavailable)
          if (Option.isNone(earlier)) {
            return yield* ArcpError.of(
              "ALREADY_EXISTS",
              `idempotency_key ${key} names ${claim.job_id}, not a schedule`
            )
          }
          return yield* answer(owner, message, "job.accepted", JobId.make(claim.job_id), earlier.value.created_at)
        }
      }
      const record: ScheduleRecord = {
        schedule_id: id,
        principal: owner.principal,
        session_id: owner.sessionId,
        command_id: message.id,
        job: JSON.stringify({ type: job.type, payload: payload.right }),
        when: JSON.stringify(when),
        missed: message.payload.missed ?? "run_once",
        state: "active",
        next_fire_at: planned.right.first,
        fire_count: 0,
        ...(message.trace_id !== undefined ? { trace_id: message.trace_id } : {}),
        trust_level: owner.trustLevel,
        created_at: now,
        updated_at: now
      }
      yield* Effect.mapError(store.save(record), unavailable)
      yield* pruneOwners
      owners.set(owner.sessionId, owner)
      // answered before it is armed, so the answer precedes any firing (after: 0 fires at once)
      yield* answer(owner, message, "job.accepted", id, now)
      yield* arm(record)
    }),

    cancel: Effect.fnUntraced(function*(message, owner) {
      const id = message.payload.target_id
      const found = yield* Effect.mapError(store.get(id), unavailable)
      if (Option.isNone(found) || found.value.principal !== owner.principal) {
        return yield* refuseCancel(message, owner, "not_found")
      }
      if (found.value.state !== "active") return yield* refuseCancel(message, owner, "already_terminal")
      // after a firing in progress has been recorded, so its record update cannot undo the cancel
      yield* lock.withPermits(1)(Effect.gen(function*() {
        const record = armed.get(id) ?? found.value
        armed.delete(id)
        timeline.disarm(id)
        const { next_fire_at: _, ...rest } = record
        yield* Effect.mapError(
          store.save({ ...rest, state: "cancelled", updated_at: yield* Clock.currentTimeMillis }),
          unavailable
        )
      }))
      yield* Effect.flatMap(
        makeEnvelope("cancel.accepted", { target: message.payload.target, target_id: id }, {
          session_id: owner.sessionId,
          correlation_id: message.id
        }),
        owner.sink
      )
    }),

    list: Effect.fnUntraced(function*(message, owner) {
      const records = yield* Effect.mapError(store.listActive(owner.principal), unavailable)
      yield* Effect.flatMap(
        makeEnvelope(LISTED_TYPE, { schedules: records.map(describe) }, {
          session_id: owner.sessionId,
          correlation_id: message.id
        }),
        owner.sink
      )
    })
  })
})

export const layer: Layer.Layer<
  Scheduler,
  never,
  ScheduleStore | EventLog | Jobs | Sessions | RuntimeConfig | ToolRegistry
> = Layer.scoped(Scheduler, make)
