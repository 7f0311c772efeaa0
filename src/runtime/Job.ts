/**
 * One job's in-memory state and its event emission: every job event carries
 * the job id, the invoke's trace id and causation id (WIRE "correlation
 * rules"), and exactly one terminal event is ever emitted (§6.3, §10.2).
 */
import { type Deferred, Effect, type Fiber, type Option } from "effect"
import { type HeaderOptions, make as makeEnvelope, type Priority } from "../protocol/Envelope.js"
import type { JobId, MessageId, SessionId, TraceId } from "../protocol/Ids.js"
import { type Decoded, encodeUnchecked, type MessageType, type PayloadOf } from "../protocol/Message.js"
import type { JobState } from "../protocol/messages/Common.js"
import type { EventLog, JobRecord } from "../store/EventLog.js"
import { canTransition } from "./JobState.js"
import type { Tool } from "./Tools.js"
import type { Context } from "effect"

/** Where a job's events go: the outbound path of a session that watches it. */
export type Sink = (envelope: Decoded) => Effect.Effect<void>

/** Who started or watches a job. */
export interface Owner {
  readonly sessionId: SessionId
  readonly principal: string
  readonly sink: Sink
  /** The negotiated `heartbeat_interval_seconds` (§10.3). */
  readonly heartbeatIntervalSeconds: number
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
  readonly sinks: Set<Sink>
  state: JobState
  startedAt: number | undefined
  finished: boolean
  cancelRequest: { readonly reason: string | undefined; readonly source: "client" | "runtime" | "policy" | "timeout" } | undefined
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
  retryCount: number
}

/** Moves the job to `to` when legal; returns whether it moved. */
export const transition = (job: Job, to: JobState): boolean => {
  if (job.state === to || !canTransition(job.state, to)) return false
  job.state = to
  return true
}

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
  job.sinks.size > 0
    ? Effect.forEach(job.sinks, (sink) => sink(env), { discard: true })
    : log.recordOutbound([{ ...env, session_id: job.sessionId, json: encodeUnchecked(env) }]).pipe(
      Effect.catchAll((e) => Effect.logError(`cannot log an event of detached job ${job.id}`, e))
    )
