/**
 * One job's in-memory state and its event emission: every job event carries
 * the job id, the invoke's trace id and causation id (WIRE "correlation
 * rules"), and exactly one terminal event is ever emitted (§6.3, §10.2).
 */
import { Clock, type Deferred, Effect, Either, type Fiber, type Option } from "effect"
import type { Context } from "effect"
import { type HeaderOptions, make as makeEnvelope, type Priority } from "../protocol/Envelope.js"
import type { JobId, MessageId, SessionId, TraceId } from "../protocol/Ids.js"
import { type Decoded, type Message, type MessageType, type PayloadOf, tryEncode } from "../protocol/Message.js"
import type { JobState, TrustLevel } from "../protocol/messages/Common.js"
import type { EventLog, JobRecord } from "../store/EventLog.js"
import { EVENTS_PER_TURN, yieldToEventLoop } from "./internal/Fairness.js"
import { canTransition } from "./JobState.js"
import type { Tool } from "./Tools.js"

/** Where a job's events go: the outbound path of a session that watches it. */
export type Sink = (envelope: Decoded) => Effect.Effect<void>

/** Who started or watches a job. */
export interface Owner {
  readonly sessionId: SessionId
  readonly principal: string
  readonly sink: Sink
  /** Suspends while the session's outbound buffer is full (absent: never). */
  readonly room?: Effect.Effect<void> | undefined
  /** The negotiated `heartbeat_interval_seconds` (§10.3). */
  readonly heartbeatIntervalSeconds: number
  /** The session's trust level (§15.3), from its credentials. */
  readonly trustLevel: TrustLevel
  /** Whether the session negotiated `human_input` (§12): no human request is sent to it otherwise. */
  readonly humanInput: boolean
  /** Whether the session negotiated `arcpx.arcp.metrics.v1`: the runtime's per-job metrics as events (absent: no). */
  readonly metrics?: boolean | undefined
}

/** The mutable state of a live job; touched only inside `Effect.sync` by the Jobs service and the job's fiber. */
export interface Job {
  readonly id: JobId
  readonly tool: Tool
  readonly principal: string
  readonly sessionId: SessionId
  readonly commandId: MessageId
  readonly traceId: TraceId | undefined
  readonly priority: Priority | undefined
  readonly idempotencyKey: string | undefined
  readonly acceptedAt: number
  readonly heartbeatIntervalMs: number
  /** The schedule whose firing this job is (§10.6): it then ends job.completed / job.failed (WIRE). */
  readonly scheduleId?: string | undefined
  /** The trust level and human_input of the session that started it. */
  readonly trustLevel: TrustLevel
  readonly humanInput: boolean
  /** The runtime's §17.3.1 metrics of this job go out as events (its session asked: `arcpx.arcp.metrics.v1`). */
  readonly metrics: boolean
  /** The sessions watching it: each one's own sink → how to deliver to it and wait for its room (see `attach`). */
  readonly sinks: Map<Sink, Watcher>
  /** The job's own events since it last let the event loop turn (internal/Fairness). */
  sinceTurn: number
  state: JobState
  startedAt: number | undefined
  finished: boolean
  cancelRequest:
    | { readonly reason: string | undefined; readonly source: "client" | "runtime" | "policy" | "timeout" }
    | undefined
  /** Set while an interrupt is pending: pause points wait for it (§10.5). */
  gate: Deferred.Deferred<void> | undefined
  /** The fiber waiting for the interrupt's answer; interrupted (withdrawing the prompt) when the job ends first. */
  interruptAnswer: Fiber.RuntimeFiber<unknown, unknown> | undefined
  guidance: Option.Option<string>
  lastLiveness: number
  /** Blocked by the watchdog (heartbeat_recovery "block"), not by an interrupt: liveness unblocks it. */
  watchdogBlocked: boolean
  heartbeatSequence: number
  checkpointId: string | undefined
  /** How many times the handler was re-run under the tool's retry policy (§10.2). */
  retryCount: number
  /** job.accepted has gone out: a job stopped before that still announces itself before its terminal. */
  announced: boolean
  /** tool.invocations has been reported (once per job, also for a job stopped before it started). */
  counted: boolean
  /** The last envelopes delivered (at most RECENT): a retransmitted invoke gets those the log may not hold yet. */
  readonly recent: Array<Decoded>
  /** Completed with the terminal envelope once it is recorded and delivered: repeats of the command wait on it. */
  readonly ended: Deferred.Deferred<Decoded>
}

/** One session watching a job. */
export interface Watcher {
  readonly deliver: Sink
  readonly room: Effect.Effect<void> | undefined
}

/** The watcher entry of `owner` for a job of session `sessionId`. */
export const watcherOf = (owner: Owner, sessionId: SessionId): Watcher => ({
  deliver: owner.sessionId === sessionId ? owner.sink : (e) => owner.sink({ ...e, session_id: owner.sessionId }),
  room: owner.room
})

/** How many delivered envelopes a live job keeps for replays. */
export const RECENT = 128

/**
 * Makes `owner` a watcher of the job. A session other than the job's own gets
 * its events re-addressed to it (its `session_id`), as replays are.
 */
export const attach = (job: Job, owner: Owner): void => {
  if (watches(job, owner)) return
  job.sinks.set(owner.sink, { deliver: readdressed(job, owner), room: owner.room })
}

/** What delivers a job's events to `owner`: the owner's sink, re-addressed when it is another session. */
const readdressed = (job: Job, owner: Owner): Sink =>
  owner.sessionId === job.sessionId ? owner.sink : (e) => owner.sink({ ...e, session_id: owner.sessionId })

/** Sinks attached with `attachFiltered`: a later `attach` of the same owner replaces them with a full one. */
const filteredSinks = new WeakSet<Watcher>()

/**
 * Makes `owner` a watcher of the events `keep` accepts (a repeated command
 * watches everything but the job's own terminal, answered separately), unless
 * it watches the job already. What it holds back goes to `onHeldBack`.
 */
export const attachFiltered = (
  job: Job,
  owner: Owner,
  keep: (envelope: Decoded) => boolean,
  onHeldBack: (envelope: Decoded) => Effect.Effect<void>
): void => {
  if (job.sinks.has(owner.sink)) return
  const deliverTo = readdressed(job, owner)
  const filtered: Sink = (e) => (keep(e) ? deliverTo(e) : onHeldBack(e))
  const watcher: Watcher = { deliver: filtered, room: owner.room }
  filteredSinks.add(watcher)
  job.sinks.set(owner.sink, watcher)
}

/** Whether some session receives all the job's events; if none does, what filtered watchers hold back is only logged. */
export const watchedInFull = (job: Job): boolean => {
  for (const watcher of job.sinks.values()) if (!filteredSinks.has(watcher)) return true
  return false
}

/** Whether `owner` receives all the job's events (not only those of a filtered attachment). */
export const watches = (job: Job, owner: Owner): boolean => {
  const watcher = job.sinks.get(owner.sink)
  return watcher !== undefined && !filteredSinks.has(watcher)
}

/**
 * Before each of the handler's own events (progress, log, metric, stream
 * chunks): waits until every watching session has room in its outbound
 * buffer — the tool slows to its slowest reader, nothing is dropped — and
 * lets the event loop turn every few events (internal/Fairness).
 */
export const awaitRoom = (job: Job): Effect.Effect<void> =>
  Effect.suspend(() => {
    job.sinceTurn += 1
    const turn = job.sinceTurn >= EVENTS_PER_TURN
    if (turn) job.sinceTurn = 0
    const rooms: Array<Effect.Effect<void>> = []
    for (const watcher of job.sinks.values()) if (watcher.room !== undefined) rooms.push(watcher.room)
    const wait = rooms.length === 0 ? Effect.void : Effect.forEach(rooms, (room) => room, { discard: true })
    return turn ? Effect.zipRight(yieldToEventLoop, wait) : wait
  })

/** Moves the job to `to` when legal; returns whether it moved. */
export const transition = (job: Job, to: JobState): boolean => {
  if (job.state === to || !canTransition(job.state, to)) return false
  job.state = to
  return true
}

/**
 * Moves the job to `to` when legal and stages its record (§10.2: the last
 * known state), without waiting for the commit; returns whether it moved.
 */
export const moveTo = (job: Job, log: Context.Tag.Service<typeof EventLog>, to: JobState): Effect.Effect<boolean> =>
  Effect.suspend(() => {
    if (!transition(job, to)) return Effect.succeed(false)
    return Effect.flatMap(Clock.currentTimeMillis, (now) => log.stageJob(toRecord(job, now))).pipe(Effect.as(true))
  })

/** The §10.2 record of the job. */
export const toRecord = (job: Job, now: number, terminal?: string): JobRecord => ({
  job_id: job.id,
  session_id: job.sessionId,
  principal: job.principal,
  tool: job.tool.name,
  command_id: job.commandId,
  state: job.state,
  checkpoint_id: job.checkpointId,
  retry_count: job.retryCount,
  cancel_reason: job.cancelRequest?.reason,
  idempotency_key: job.idempotencyKey,
  terminal,
  created_at: job.acceptedAt,
  updated_at: now
})

/** Builds a job event (job id, trace id, causation = the command) without sending it. */
export const envelope = <T extends MessageType>(job: Job, type: T, payload: PayloadOf<T>, header: HeaderOptions = {}) =>
  makeEnvelope(type, payload, {
    session_id: job.sessionId,
    job_id: job.id,
    causation_id: job.commandId,
    ...(job.traceId !== undefined ? { trace_id: job.traceId } : {}),
    ...(job.priority !== undefined ? { priority: job.priority } : {}),
    ...header
  })

/**
 * Sends an envelope to every sink; with no sink (a detached job) it goes to
 * the log only, so a later resume can replay it.
 */
export const deliver = (job: Job, log: Context.Tag.Service<typeof EventLog>, env: Decoded): Effect.Effect<void> =>
  Effect.suspend(() => {
    job.recent.push(env)
    if (job.recent.length > 2 * RECENT) job.recent.splice(0, job.recent.length - RECENT)
    if (job.sinks.size > 0) {
      return Effect.forEach(job.sinks.values(), (watcher) => watcher.deliver(env), { discard: true })
    }
    const json = tryEncode(env)
    return Either.isLeft(json)
      ? Effect.logError(`cannot log an unencodable ${env.type} of detached job ${job.id}: ${json.left}`)
      : log.recordOutbound([{ ...env, session_id: job.sessionId, json: json.right }]).pipe(
        Effect.catchAll((e) => Effect.logError(`cannot log an event of detached job ${job.id}`, e))
      )
  })

/** Emits one job event (to its sinks, or the log when detached) and returns its id. */
export const emit = <T extends MessageType>(
  log: Context.Tag.Service<typeof EventLog>,
  job: Job,
  type: T,
  payload: PayloadOf<T>,
  header: HeaderOptions = {}
): Effect.Effect<MessageId> =>
  Effect.flatMap(envelope(job, type, payload, header), (env) => Effect.as(deliver(job, log, env), env.id))

/** Answers a `cancel` the runtime will not carry out (§10.4), to the asking session. */
export const refuseCancel = (
  message: Message<"cancel">,
  owner: Owner,
  reason: "not_cancellable" | "already_terminal" | "not_found"
): Effect.Effect<void> =>
  Effect.flatMap(
    makeEnvelope("cancel.refused", { target: message.payload.target, target_id: message.payload.target_id, reason }, {
      session_id: owner.sessionId,
      correlation_id: message.id
    }),
    owner.sink
  )
