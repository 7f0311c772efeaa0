/**
 * One job's in-memory state and its event emission: every job event carries
 * the job id, the invoke's trace id and causation id (WIRE "correlation
 * rules"), and exactly one terminal event is ever emitted (§6.3, §10.2).
 */
import { Deferred, Effect, type Fiber, FiberId, Option } from "effect"
import type { Context } from "effect"
import { yieldToEventLoop } from "../../internal/EventLoop.js"
import { withMillis } from "../../internal/Now.js"
import { type HeaderOptions, make as makeEnvelope, type Priority } from "../../protocol/Envelope.js"
import type { JobId, MessageId, SessionId, TraceId } from "../../protocol/Ids.js"
import type { Decoded, Message, MessageType, PayloadOf } from "../../protocol/Message.js"
import type { JobState, TrustLevel } from "../../protocol/messages/Common.js"
import type { EventLog, JobRecord } from "../../store/EventLog.js"
import { EVENTS_PER_TURN } from "../internal/Fairness.js"
import { isSheddable } from "../outbound/Shedding.js"
import type { Restored, Tool } from "../Tools.js"
import type { Owner, Watcher } from "./JobOwner.js"
import { canTransition, isTerminal } from "./JobState.js"

export type { Owner, Sink, Watcher } from "./JobOwner.js"
export { watcherOf } from "./JobOwner.js"

/** Why a job asked to be cancelled, and who asked. */
export interface CancelRequest {
  readonly reason: string | undefined
  readonly source: "client" | "runtime" | "policy" | "timeout"
}

/** What a job is built from: who asked for what, and (restarted jobs) where it had got to. */
export interface JobInit {
  readonly id: JobId
  readonly tool: Tool
  readonly principal: string
  readonly sessionId: SessionId
  readonly commandId: MessageId
  readonly traceId: TraceId | undefined
  readonly spanId?: string | undefined
  readonly endsAsJob?: boolean | undefined
  readonly priority: Priority | undefined
  readonly idempotencyKey: string | undefined
  readonly acceptedAt: number
  readonly heartbeatIntervalMs: number
  readonly scheduleId?: string | undefined
  readonly trustLevel: TrustLevel
  readonly humanInput: boolean
  readonly instanceId?: string | undefined
  readonly argumentsJson?: string | undefined
  readonly restored?: Restored | undefined
  readonly watcher: Watcher | undefined
  readonly record: (envelope: Decoded, json?: string) => Effect.Effect<void>
  readonly followersRoom: Effect.Effect<void>
  /** Whether `followersRoom` would complete at once (absent: never assumed, `followersRoom` is asked). */
  readonly followersRoomNow?: (() => boolean) | undefined
  readonly metrics: boolean
  /** Now, for the liveness clock. */
  readonly now: number
  /** A restarted job (§4.3): its retries so far and its checkpoint; job.accepted and its count went out before. */
  readonly resumed?: { readonly retryCount: number; readonly checkpointId: string | undefined } | undefined
}

/**
 * One live job, owned by this module: what it is (read-only) and its one
 * state machine — the §10.2 state with what qualifies it (a pending
 * interrupt's gate, a watchdog block, a cancel request, the milestones
 * job.accepted / the invocation count) — written only by the methods below,
 * which the Jobs service and the job's fiber call inside `Effect.sync`.
 */
export class Job {
  readonly id: JobId
  readonly tool: Tool
  readonly principal: string
  readonly sessionId: SessionId
  readonly commandId: MessageId
  readonly traceId: TraceId | undefined
  /** The job's span (§17.1): the parent of its events' spans, also when they are sent from outside its fiber. */
  readonly spanId: string | undefined
  /** Ends with job.completed / job.failed rather than tool.result / tool.error (delegated and workflow jobs). */
  readonly endsAsJob: boolean | undefined
  readonly priority: Priority | undefined
  readonly idempotencyKey: string | undefined
  readonly acceptedAt: number
  readonly heartbeatIntervalMs: number
  /** The schedule whose firing this job is (§10.6): it then ends job.completed / job.failed (WIRE). */
  readonly scheduleId: string | undefined
  /** The trust level and human_input of the session that started it. */
  readonly trustLevel: TrustLevel
  readonly humanInput: boolean
  /** The runtime instance running it (§4.3), recorded so other runtimes on the store leave it alone. */
  readonly instanceId: string | undefined
  /** The JSON of its arguments, kept for tools that resume after a restart (§4.3). */
  readonly argumentsJson: string | undefined
  /** Set when it runs again after a restart, from a checkpoint (§4.3). */
  readonly restored: Restored | undefined
  /** Records (then publishes) an event when no session of its own is connected (a detached job). */
  readonly record: (envelope: Decoded, json?: string) => Effect.Effect<void>
  /** Waits until every other reader following the job through the Feed has room (see `awaitRoom`). */
  readonly followersRoom: Effect.Effect<void>
  /** Whether `followersRoom` would complete at once, checked with no fiber step. */
  readonly followersRoomNow: () => boolean
  /** The runtime's §17.3.1 metrics of this job go out as events (its session asked: `arcpx.arcp.metrics.v1`). */
  readonly metrics: boolean
  #state: JobState = "accepted"
  #watcher: Watcher | undefined
  readonly #followers = new Set<string>()
  #sinceTurn = 0
  #startedAt: number | undefined
  #cancelRequest: CancelRequest | undefined
  #gate: Deferred.Deferred<void> | undefined
  #interruptAnswer: Fiber.RuntimeFiber<unknown, unknown> | undefined
  #guidance: Option.Option<string> = Option.none()
  #lastLiveness: number
  #watchdogBlocked = false
  #heartbeatSequence = 0
  #checkpointId: string | undefined
  #retryCount = 0
  #announced = false
  #counted = false
  // the terminal envelope once recorded and delivered, and what waits for it: made when a repeat first waits,
  // not per job (Effect's `Deferred` is a dictionary-mode object with hidden classes of its own; issue 12)
  #terminal: Decoded | undefined
  #ended: Deferred.Deferred<Decoded> | undefined

  constructor(init: JobInit) {
    this.id = init.id
    this.tool = init.tool
    this.principal = init.principal
    this.sessionId = init.sessionId
    this.commandId = init.commandId
    this.traceId = init.traceId
    this.spanId = init.spanId
    this.endsAsJob = init.endsAsJob
    this.priority = init.priority
    this.idempotencyKey = init.idempotencyKey
    this.acceptedAt = init.acceptedAt
    this.heartbeatIntervalMs = init.heartbeatIntervalMs
    this.scheduleId = init.scheduleId
    this.trustLevel = init.trustLevel
    this.humanInput = init.humanInput
    this.instanceId = init.instanceId
    this.argumentsJson = init.argumentsJson
    this.restored = init.restored
    this.record = init.record
    this.followersRoom = init.followersRoom
    this.followersRoomNow = init.followersRoomNow ?? (() => false)
    this.metrics = init.metrics
    this.#watcher = init.watcher
    this.#lastLiveness = init.now
    if (init.resumed !== undefined) {
      this.#retryCount = init.resumed.retryCount
      this.#checkpointId = init.resumed.checkpointId
      this.#announced = true
      this.#counted = true
    }
  }

  /** The terminal envelope once it is recorded and delivered: repeats of the command wait on it. */
  get ended(): Effect.Effect<Decoded> {
    return Effect.suspend(() =>
      this.#terminal !== undefined
        ? Effect.succeed(this.#terminal)
        : Deferred.await(this.#ended ??= Deferred.unsafeMake<Decoded>(FiberId.none))
    )
  }
  /** The terminal envelope is recorded and delivered: what waits on `ended` goes on. */
  settleEnded(terminal: Decoded): Effect.Effect<void> {
    this.#terminal = terminal
    const waiting = this.#ended
    return waiting === undefined ? Effect.void : Effect.asVoid(Deferred.succeed(waiting, terminal))
  }

  /** Its §10.2 state; a terminal state means it has ended (`hasEnded`). */
  get state(): JobState {
    return this.#state
  }
  /**
   * Its own session, while that session is connected: its events go to that session's outbound path,
   * which records them (then publishes them) before writing them. Detached (undefined): `record`.
   */
  get watcher(): Watcher | undefined {
    return this.#watcher
  }
  get startedAt(): number | undefined {
    return this.#startedAt
  }
  get cancelRequest(): CancelRequest | undefined {
    return this.#cancelRequest
  }
  /** Set while an interrupt is pending: pause points wait for it (§10.5). */
  get gate(): Deferred.Deferred<void> | undefined {
    return this.#gate
  }
  get guidance(): Option.Option<string> {
    return this.#guidance
  }
  get lastLiveness(): number {
    return this.#lastLiveness
  }
  /** Blocked by the watchdog (heartbeat_recovery "block"), not by an interrupt: liveness unblocks it. */
  get watchdogBlocked(): boolean {
    return this.#watchdogBlocked
  }
  get checkpointId(): string | undefined {
    return this.#checkpointId
  }
  /** How many times the handler was re-run under the tool's retry policy (§10.2). */
  get retryCount(): number {
    return this.#retryCount
  }

  /** Moves to `to` when legal; returns whether it moved. Terminal states are entered by `endAs` only. */
  transition(to: JobState): boolean {
    if (this.#state === to || !canTransition(this.#state, to) || isTerminal(to)) return false
    this.#state = to
    return true
  }
  /** Puts the job in its terminal state (its end, or a correction of it: a result that cannot be sent fails). */
  endAs(state: "completed" | "failed" | "cancelled"): void {
    this.#state = state
  }
  started(at: number): void {
    this.#startedAt = at
  }
  /** The first cancel request is kept (its reason goes in job.cancelled); false when one was already made. */
  requestCancel(request: CancelRequest): boolean {
    if (this.#cancelRequest !== undefined) return false
    this.#cancelRequest = request
    return true
  }
  /** An interrupt opens the gate pause points wait at (§10.5); undefined when one is pending already. */
  openInterrupt(gate: Deferred.Deferred<void>): boolean {
    if (this.#gate !== undefined) return false
    this.#gate = gate
    return true
  }
  /** The fiber waiting for the interrupt's answer (interrupted, withdrawing the prompt, when the job ends first). */
  awaitingAnswer(fiber: Fiber.RuntimeFiber<unknown, unknown>): void {
    this.#interruptAnswer = fiber
  }
  /** The interrupt was answered: its guidance (if any) is kept, the gate is to be opened by the caller. */
  interruptAnswered(guidance: string | undefined): void {
    if (guidance !== undefined) this.#guidance = Option.some(guidance)
    this.#gate = undefined
    this.#interruptAnswer = undefined
  }
  /** Takes the pending interrupt's answer fiber (to withdraw it), leaving none. */
  takeInterruptAnswer(): Fiber.RuntimeFiber<unknown, unknown> | undefined {
    const fiber = this.#interruptAnswer
    this.#interruptAnswer = undefined
    return fiber
  }
  /** Liveness (ctx.heartbeat): returns whether a watchdog block is to be lifted now. */
  alive(now: number): boolean {
    this.#lastLiveness = now
    return this.#watchdogBlocked && this.#gate === undefined
  }
  /** The watchdog blocked it (`moved`: the state moved to blocked) or liveness unblocked it. */
  watchdog(blocked: boolean): void {
    this.#watchdogBlocked = blocked
  }
  /** The next job.heartbeat's sequence number. */
  nextHeartbeat(): number {
    this.#heartbeatSequence += 1
    return this.#heartbeatSequence
  }
  checkpointed(id: string): void {
    this.#checkpointId = id
  }
  /** One more retry of the handler; returns the count. */
  retried(): number {
    this.#retryCount += 1
    return this.#retryCount
  }
  /** True the first time only: job.accepted goes out once. */
  announce(): boolean {
    if (this.#announced) return false
    this.#announced = true
    return true
  }
  /** True the first time only: tool.invocations is counted once. */
  count(): boolean {
    if (this.#counted) return false
    this.#counted = true
    return true
  }
  /** Its watcher becomes `watcher` (a handoff, §14), or none. */
  watchBy(watcher: Watcher | undefined): void {
    this.#watcher = watcher
  }
  /** Another session follows its events through the Feed (a retransmit, a repeated key): it may cancel its streams. */
  follow(sessionId: string, following: boolean): void {
    if (following) this.#followers.add(sessionId)
    else this.#followers.delete(sessionId)
  }
  isFollowedBy(sessionId: string): boolean {
    return this.#followers.has(sessionId)
  }
  /** Counts one of its own events; true every EVENTS_PER_TURN of them (internal/Fairness). */
  turn(): boolean {
    this.#sinceTurn += 1
    if (this.#sinceTurn < EVENTS_PER_TURN) return false
    this.#sinceTurn = 0
    return true
  }
}

/**
 * Before each of the handler's own events (progress, log, metric, stream
 * chunks): waits until every watching session has room in its outbound
 * buffer — the tool slows to its slowest reader — and lets the event loop
 * turn every few events (internal/Fairness). An event of `type` that may be
 * shed (a low-priority job's progress, log, metric: outbound/Shedding) does
 * not wait for its own session's socket: a full buffer sheds it from the
 * live delivery instead (it is still committed).
 */
export const awaitRoom = (job: Job, type?: string, turnDue?: boolean): Effect.Effect<void> =>
  Effect.suspend(() => roomWait(job, type, turnDue ?? job.turn()) ?? Effect.void)

/**
 * The wait `awaitRoom` makes, or `undefined` when it would make none: no turn due (the caller asked `job.turn()`)
 * and room now in every watching session. Most events need none, and skip the wait's fiber steps (issue 12); a
 * caller that wraps the wait (a stream chunk's backpressure timeout) wraps only a real one.
 */
export const roomWait = (job: Job, type: string | undefined, turnDue: boolean): Effect.Effect<void> | undefined => {
  const buffer = job.watcher?.buffer
  const shedding = type !== undefined && isSheddable(type, job.priority)
  if (!turnDue && (buffer === undefined || buffer.roomNow(shedding)) && job.followersRoomNow()) return undefined
  const own = buffer === undefined ? undefined : shedding ? buffer.sheddingRoom : buffer.room
  const wait = own === undefined ? job.followersRoom : Effect.zipRight(own, job.followersRoom)
  return turnDue ? Effect.zipRight(yieldToEventLoop, wait) : wait
}

/** Whether the job has ended: its state is terminal (no separate flag). */
export const hasEnded = (job: Job): boolean => isTerminal(job.state)

/**
 * Moves the job to `to` when legal and stages its record (§10.2: the last
 * known state), without waiting for the commit; returns whether it moved.
 */
export const moveTo = (job: Job, log: Context.Tag.Service<typeof EventLog>, to: JobState): Effect.Effect<boolean> =>
  Effect.suspend(() => {
    if (!job.transition(to)) return Effect.succeed(false)
    return Effect.as(withMillis((now) => log.stageJob(toRecord(job, now))), true)
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
  updated_at: now,
  instance_id: job.instanceId,
  arguments: job.argumentsJson
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
  }, job.spanId)

/**
 * Sends a job event on its one road: to its own session's outbound path
 * (recorded there, then published and written) or, detached, straight to the
 * recorder. Other sessions following the job read it from the Feed once it
 * is committed.
 */
export const deliver = (job: Job, env: Decoded, json?: string): Effect.Effect<void> =>
  Effect.suspend(() => (job.watcher !== undefined ? job.watcher.deliver(env, json) : job.record(env, json)))

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
