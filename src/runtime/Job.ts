/**
 * One job's in-memory state and its event emission: every job event carries
 * the job id, the invoke's trace id and causation id (WIRE "correlation
 * rules"), and exactly one terminal event is ever emitted (§6.3, §10.2).
 */
import { Clock, type Deferred, Effect, type Fiber, type Option } from "effect"
import type { Context, Scope } from "effect"
import { type HeaderOptions, make as makeEnvelope, type Priority } from "../protocol/Envelope.js"
import type { JobId, MessageId, SessionId, TraceId } from "../protocol/Ids.js"
import type { Decoded, Message, MessageType, PayloadOf } from "../protocol/Message.js"
import type { JobState, TrustLevel } from "../protocol/messages/Common.js"
import type { EventLog, JobRecord } from "../store/EventLog.js"
import { EVENTS_PER_TURN, yieldToEventLoop } from "./internal/Fairness.js"
import { canTransition, isTerminal } from "./JobState.js"
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
  /** The connection's scope: what follows a job for this session ends with it (absent: with the job). */
  readonly scope?: Scope.Scope | undefined
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
  /**
   * Its own session, while that session is connected: its events go to that session's outbound path,
   * which records them (then publishes them) before writing them. Detached (undefined): `record`.
   */
  watcher: Watcher | undefined
  /** Records (then publishes) an event when no session of its own is connected (a detached job). */
  readonly record: (envelope: Decoded) => Effect.Effect<void>
  /** Waits until every other reader following the job through the Feed has room (see `awaitRoom`). */
  readonly followersRoom: Effect.Effect<void>
  /** Other sessions following its events through the Feed (a retransmit, a repeated key): they may cancel its streams. */
  readonly followers: Set<string>
  /** The job's own events since it last let the event loop turn (internal/Fairness). */
  sinceTurn: number
  /** Its §10.2 state; a terminal state means it has ended (`hasEnded`): moved only by `transition` and `endAs`. */
  state: JobState
  startedAt: number | undefined
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
  /** Completed with the terminal envelope once it is recorded and delivered: repeats of the command wait on it. */
  readonly ended: Deferred.Deferred<Decoded>
}

/** The job's own session, watching it. */
export interface Watcher {
  readonly sessionId: SessionId
  readonly deliver: Sink
  readonly room: Effect.Effect<void> | undefined
}

/** The watcher entry of the session `owner` (which started the job). */
export const watcherOf = (owner: Owner): Watcher => ({
  sessionId: owner.sessionId,
  deliver: owner.sink,
  room: owner.room
})

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
    const own = job.watcher?.room
    const wait = own === undefined ? job.followersRoom : Effect.zipRight(own, job.followersRoom)
    return turn ? Effect.zipRight(yieldToEventLoop, wait) : wait
  })

/** Whether the job has ended: its state is terminal (no separate flag). */
export const hasEnded = (job: Job): boolean => isTerminal(job.state)

/** Puts the job in its terminal state (its end, or a correction of it: a result that cannot be sent fails). */
export const endAs = (job: Job, state: "completed" | "failed" | "cancelled"): void => {
  job.state = state
}

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
 * Sends a job event on its one road: to its own session's outbound path
 * (recorded there, then published and written) or, detached, straight to the
 * recorder. Other sessions following the job read it from the Feed once it
 * is committed.
 */
export const deliver = (job: Job, env: Decoded): Effect.Effect<void> =>
  Effect.suspend(() => (job.watcher !== undefined ? job.watcher.deliver(env) : job.record(env)))

/** Emits one job event (see `deliver`) and returns its id. */
export const emit = <T extends MessageType>(
  job: Job,
  type: T,
  payload: PayloadOf<T>,
  header: HeaderOptions = {}
): Effect.Effect<MessageId> =>
  Effect.flatMap(envelope(job, type, payload, header), (env) => Effect.as(deliver(job, env), env.id))

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
