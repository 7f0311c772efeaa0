/**
 * Jobs (RFC §6.3, §6.4, §10): `tool.invoke` runs the tool as a fiber in a
 * FiberMap keyed by job id; `cancel` interrupts it (ABORTED past the
 * deadline); `interrupt` blocks it on a human answer; a repeated logical
 * idempotency key is answered with the earlier outcome instead of running
 * twice (internal/Repeats). Jobs an earlier runtime left unfinished are
 * ended at construction (internal/Lost). Its parts live in jobs/: the live
 * jobs (LiveJobs), stopping one (Stop), a session's release and adopt
 * (Handoff) and other runtimes on the store (CrossRuntime).
 */
import { Context, Duration, Effect, Either, Exit, FiberMap, FiberSet, Layer, Option, type Tracer } from "effect"
import { currentTimeMillis } from "../../internal/Now.js"
import { make as makeEnvelope } from "../../protocol/Envelope.js"
import { ArcpError } from "../../protocol/Errors.js"
import { LIST_TYPE, TOOLS_EXTENSION } from "../../protocol/extensions/ToolDiscovery.js"
import type { MessageId } from "../../protocol/Ids.js"
import { type JobId, makeJobId, TraceId } from "../../protocol/Ids.js"
import { type Decoded, type Message, tryEncode } from "../../protocol/Message.js"
import { EventLog } from "../../store/EventLog.js"
import { Artifacts } from "../artifacts/Artifacts.js"
import { Handovers } from "../delegation/Handover.js"
import { Remotes } from "../delegation/Remotes.js"
import { RuntimeInstance } from "../durable/Instance.js"
import * as Instance from "../durable/Instance.js"
import * as JobControl from "../durable/JobControl.js"
import { Feed } from "../events/Feed.js"
import { Recorder } from "../events/Recorder.js"
import { HumanInput } from "../HumanInput.js"
import { finish as finishWith, type Terminal } from "../internal/Finish.js"
import * as Heartbeats from "../internal/Heartbeats.js"
import { blockJob, checkTrust, interruptJob } from "../internal/Interrupt.js"
import { answerRepeat, commandDigest, keyReused, type RepeatContext } from "../internal/Repeats.js"
import { replay } from "../internal/Replay.js"
import { Permissions } from "../permissions/Permissions.js"
import { RuntimeConfig } from "../RuntimeConfig.js"
import { Streams } from "../Streams.js"
import { type Tool, type ToolContext, ToolRegistry } from "../Tools.js"
import * as Spans from "../tracing/Spans.js"
import * as CrossRuntime from "./CrossRuntime.js"
import * as Handoff from "./Handoff.js"
import type { ReleaseOptions } from "./Handoff.js"
import { hasEnded, Job, type Owner, refuseCancel, watcherOf } from "./Job.js"
import { runJob } from "./JobRunner.js"
import * as LiveJobs from "./LiveJobs.js"
import * as Stop from "./Stop.js"

export type { ReleaseOptions }

/** A job a schedule starts (§10.6): linked to it, and watched by its session only while that session lives. */
export interface Firing {
  readonly scheduleId: string
  /** No session to deliver to: the job's events go to the log only (its session_id is still the schedule's). */
  readonly detached: boolean
  /** Told the new job's id once it is started. */
  readonly started: (jobId: JobId) => Effect.Effect<void>
}

/** How a job started by something other than a client's tool.invoke runs (delegation, workflows). */
export interface StartOptions {
  /** The tool to run instead of the registry's tool named in the message (a workflow's own body). */
  readonly tool?: Tool | undefined
  /** End with job.completed / job.failed, as jobs not started by tool.invoke do (WIRE). */
  readonly endsAsJob?: boolean | undefined
}

export class Jobs extends Context.Tag("arcp/Jobs")<Jobs, {
  /**
   * Accepts and starts a job (or returns the earlier outcome of the same idempotency key); NOT_FOUND / INVALID_ARGUMENT
   * before acceptance. With `firing`, the job is a schedule's firing (the schedule's command stands for the invoke).
   */
  readonly invoke: (
    message: Message<"tool.invoke">,
    owner: Owner,
    firing?: Firing,
    start?: StartOptions
  ) => Effect.Effect<void, ArcpError>
  /** Answers a job `cancel` with cancel.accepted or cancel.refused (§10.4). */
  readonly cancel: (message: Message<"cancel">, owner: Owner) => Effect.Effect<void, ArcpError>
  /** Blocks the job on a human answer (§10.5); answered with `ack`. */
  readonly interrupt: (message: Message<"interrupt">, owner: Owner) => Effect.Effect<void, ArcpError>
  /**
   * Answers a retransmitted message id without running it again (§6.4): what
   * answered it, the events of the job it started, and the rest of a live job.
   */
  readonly replay: (messageId: MessageId, owner: Owner) => Effect.Effect<void>
  /**
   * A session is going away. "detach": its jobs run on, logged, for a later
   * resume. "cancel": its jobs are cancelled together, each ending with its
   * terminal (ABORTED past the deadline) before this completes; a job that
   * cannot be cancelled runs to completion detached, and the closer is told
   * with a `log` warn event (§9, §10.4).
   */
  readonly release: (owner: Owner, mode: "cancel" | "detach", options?: ReleaseOptions) => Effect.Effect<void>
  /**
   * A handoff (§14): `owner`'s session takes over the live jobs of its principal named by `jobId`, or
   * all those of session `sessionId`; their later events go to it. Returns how many it took.
   */
  readonly adopt: (
    owner: Owner,
    target: { readonly jobId?: string | undefined; readonly sessionId?: string | undefined }
  ) => Effect.Effect<number>
}>() {}

export const make = Effect.gen(function*() {
  const settings = yield* RuntimeConfig
  const log = yield* EventLog
  const tools = yield* ToolRegistry
  const humanInput = yield* HumanInput
  const streams = yield* Streams
  const artifacts = yield* Artifacts
  const permissions = yield* Permissions
  const handovers = yield* Effect.serviceOption(Handovers)
  const remotes = yield* Effect.serviceOption(Remotes)
  const handoffTargets = Option.isSome(remotes) && remotes.value.names.length > 0
  const instance = yield* RuntimeInstance
  const recorder = yield* Recorder
  const feed = yield* Feed
  const fibers = yield* FiberMap.make<string>()
  // added after the fiber map, so set before its fibers are interrupted at shutdown (finalizers run in reverse)
  let stopping = false
  yield* Effect.addFinalizer(() =>
    Effect.sync(() => {
      stopping = true
    })
  )
  // cancellation waits and interrupt answers: they live as long as the runtime, not as the request
  const background = yield* FiberSet.make()
  // one heartbeat scheduler for every job, not a fiber per job (§10.3)
  const heartbeats = yield* Heartbeats.make
  const inBackground = (effect: Effect.Effect<void>) => Effect.asVoid(FiberSet.run(background, effect))
  const { admit, forget, live, liveFor, liveOf, track } = LiveJobs.make(settings)
  /** The record of job `jobId` as `principal` may see it: only its own principal may. */
  const recordFor = (principal: string, jobId: string) =>
    Effect.map(log.getJob(jobId), Option.filter((record) => record.principal === principal))
  const horizonMs = Duration.toMillis(settings.idempotencyHorizon)
  const finish = (job: Job, terminal: Terminal) =>
    finishWith({ log, streams, maxJsonDepth: settings.maxJsonDepth }, job, terminal)
  const deadlineOf = (ms: number | undefined) => (ms === undefined ? settings.cancelDeadline : Duration.millis(ms))

  // jobs between building and winning their idempotency key: a repeat racing the claim finds them here
  const claiming = new Map<string, Job>()
  const repeats: RepeatContext = {
    log,
    recorder,
    feed,
    jobOf: (principal, jobId) => {
      const job = live.get(jobId) ?? claiming.get(jobId)
      return job !== undefined && job.principal === principal ? job : undefined
    },
    recordFor,
    background: inBackground,
    waiting: new Map(),
    waitingPerJob: new Map()
  }

  // ending a running job from outside: a cancel, an unanswered interrupt (jobs/Stop)
  const ending: Stop.StopContext = { fibers, finish, forget }
  const stop = (job: Job, deadline: Duration.Duration) => Stop.stop(ending, job, deadline)
  const expireInterrupt = (job: Job) => Stop.expireInterrupt(ending, job)

  /** How a job records (then publishes) its events while no session of its own is connected. */
  const recordDetached = (sessionId: string, principal: string, id: string) => (env: Decoded, given?: string) =>
    Effect.suspend(() => {
      const json = given !== undefined ? Either.right(given) : tryEncode(env)
      return Either.isLeft(json)
        ? Effect.logError(`cannot record an unencodable ${env.type} of detached job ${id}: ${json.left}`)
        : recorder.record([{ envelope: env, sessionId, principal, json: json.right }])
    }).pipe(
      Effect.asVoid,
      Effect.catchAll((e) => Effect.logError(`cannot record an event of detached job ${id}`, e))
    )

  /** Tracks the job and runs it on its own fiber: acceptance there, so the connection goes on reading meanwhile. */
  const launch = (
    job: Job,
    handler: (ctx: ToolContext) => Effect.Effect<unknown, ArcpError>,
    span?: Tracer.Span | undefined
  ) =>
    Effect.suspend(() => {
      track(job)
      const run = runJob({
        job,
        handler,
        log,
        humanInput,
        streams,
        artifacts,
        permissions,
        settings,
        heartbeats,
        onEnd: Effect.sync(() => forget(job.id)),
        abort: FiberMap.remove(fibers, job.id),
        background: inBackground,
        stopping: () => stopping,
        remotes,
        span
      })
      if (span === undefined) return FiberMap.run(fibers, job.id, run)
      // the map closes after `stopping` is set (finalizers run in reverse): no job starts past it
      return stopping ? Effect.interrupt : Spans.runInSpan(fibers, job.id, span, run)
    })

  const interrupts = {
    log,
    settings,
    humanInput,
    liveFor,
    answers: FiberSet.run(background),
    expire: (job: Job) => expireInterrupt(job)
  }
  /** Blocks a live job on a human answer (§10.5): the interrupt `messageId` asked for it, here or on another runtime. */
  const block = (job: Job, messageId: MessageId, prompt: string | undefined) =>
    blockJob(interrupts, job, messageId, prompt)

  // other runtimes on the store: what gone ones left is taken over here first; cancels and interrupts both ways
  const { elsewhere, runningElsewhere } = yield* CrossRuntime.start({
    log,
    recorder,
    instance,
    tools,
    settings,
    feed,
    humanInput,
    live,
    recordFor,
    launch,
    recordDetached,
    background: inBackground,
    stop,
    deadlineOf,
    block
  })
  const handoff: Handoff.HandoffContext = { live, stop, deadlineOf, waiting: repeats.waiting }

  return Jobs.of({
    invoke: Effect.fnUntraced(function*(message, owner, firing, start) {
      // plain checks, not Effects: a fiber step each saved on every invoke (issue 12)
      const tool = start?.tool ?? Option.getOrUndefined(tools.get(message.payload.tool))
      if (tool === undefined) {
        return yield* ArcpError.of(
          "NOT_FOUND",
          `no tool named "${message.payload.tool}" (list the tools with ${LIST_TYPE}, extension ${TOOLS_EXTENSION})`,
          { details: { list_with: LIST_TYPE } }
        )
      }
      const checked = tool.prepare(message.payload.arguments)
      if (Either.isLeft(checked)) return yield* checked.left
      const prepared = checked.right
      // a handoff (§14) may move the running handler to a peer runtime (delegation/Handover)
      // (only with remotes configured: a job nobody can hand off runs without the extra fiber)
      const handler = Option.isSome(handovers) && handoffTargets
        ? handovers.value.handoverable(tool, message.payload.arguments, prepared)
        : prepared
      yield* checkTrust(permissions, tool, owner)
      // refused before the key is claimed: a key is never bound to a job that did not run
      yield* admit(owner)
      const id = yield* makeJobId
      const now = yield* currentTimeMillis
      // §17.1: the job's span, a child of the command's; its events are children of it (Spans, Job.envelope)
      const span = yield* Effect.makeSpan(`arcp job ${tool.name}`, {
        captureStackTrace: false,
        attributes: { "arcp.job_id": id, "arcp.session_id": owner.sessionId, "arcp.tool": tool.name }
      })
      const key = message.idempotency_key
      // where the job's events go: the Feed's followers it waits for
      const target = { sessionId: owner.sessionId, principal: owner.principal, jobId: id }
      const job = new Job({
        id,
        tool,
        principal: owner.principal,
        sessionId: owner.sessionId,
        commandId: message.id,
        // a sender's trace id is kept as given; otherwise the span's (minted for the session, see Connection)
        traceId: message.trace_id ?? TraceId.make(span.traceId, true),
        spanId: span.spanId,
        endsAsJob: start?.endsAsJob,
        priority: message.priority,
        idempotencyKey: key,
        acceptedAt: now,
        heartbeatIntervalMs: owner.heartbeatIntervalSeconds * 1000,
        scheduleId: firing?.scheduleId,
        trustLevel: owner.trustLevel,
        humanInput: owner.humanInput,
        watcher: firing?.detached === true ? undefined : watcherOf(owner),
        record: recordDetached(owner.sessionId, owner.principal, id),
        followersRoom: feed.room(target),
        followersRoomNow: () => feed.roomNow(target),
        metrics: owner.metrics === true,
        instanceId: instance.id,
        // kept for tools that can resume after a restart (§4.3)
        argumentsJson: tool.resume !== undefined ? JSON.stringify(message.payload.arguments ?? {}) : undefined,
        now
      })
      if (key !== undefined) {
        const digest = yield* commandDigest(tool.name, message.payload.arguments)
        claiming.set(id, job)
        const claim = yield* log.claimIdempotencyKey({
          principal: owner.principal,
          key,
          job_id: id,
          digest,
          now,
          expiresAt: now + horizonMs
        }).pipe(
          Effect.tap((c) => Effect.sync(() => c._tag === "Claimed" && live.set(id, job))),
          Effect.ensuring(Effect.sync(() => claiming.delete(id))),
          Effect.mapError((e) => ArcpError.of("UNAVAILABLE", `cannot record the idempotency key: ${e.message}`))
        )
        if (claim._tag === "Existing") {
          // answered by the earlier job: this one never runs
          yield* Spans.endSpan(span, Exit.void)
          // keys claimed before digests were stored carry none: they are answered as before
          if (claim.digest !== undefined && claim.digest !== digest) return yield* keyReused(key)
          return yield* answerRepeat(repeats, claim.job_id, message.id, owner, { accepted: true })
        }
      }
      yield* launch(job, handler, span)
      if (firing !== undefined) yield* firing.started(id)
    }),

    cancel: Effect.fnUntraced(function*(message, owner) {
      const { target, target_id } = message.payload
      if (target !== "job") return yield* refuseCancel(message, owner, "not_found") // streams and sessions are routed elsewhere (Router)
      const job = liveFor(owner.principal, target_id)
      if (job === undefined) {
        const running = yield* runningElsewhere(owner.principal, target_id)
        if (Option.isSome(running)) return yield* JobControl.cancelElsewhere(elsewhere, running.value, message, owner)
        const record = yield* recordFor(owner.principal, target_id).pipe(Effect.orElseSucceed(() => Option.none()))
        const ended = Option.isSome(record) && record.value.terminal !== undefined
        return yield* refuseCancel(message, owner, ended ? "already_terminal" : "not_found")
      }
      if (hasEnded(job)) return yield* refuseCancel(message, owner, "already_terminal")
      if (!job.tool.cancellable) return yield* refuseCancel(message, owner, "not_cancellable")
      const header = { session_id: owner.sessionId, job_id: job.id, correlation_id: message.id }
      yield* owner.sink(yield* makeEnvelope("cancel.accepted", { target, target_id }, header))
      if (!job.requestCancel({ reason: message.payload.reason, source: "client" })) return
      yield* FiberSet.run(background, stop(job, deadlineOf(message.payload.deadline_ms)))
    }),

    interrupt: Effect.fnUntraced(function*(message, owner) {
      const { target, target_id } = message.payload
      // a job this runtime does not run may run on another one on the same store (issue 17)
      if (target === "job" && liveFor(owner.principal, target_id) === undefined) {
        const running = yield* runningElsewhere(owner.principal, target_id)
        if (Option.isSome(running)) {
          return yield* JobControl.interruptElsewhere(elsewhere, running.value, message, owner)
        }
      }
      return yield* interruptJob(interrupts, message, owner)
    }),

    replay: (messageId, owner) =>
      replay(
        {
          feed,
          background: inBackground,
          liveFor,
          liveOf,
          recordFor,
          answerRepeat: (jobId, commandId) => answerRepeat(repeats, jobId, commandId, owner, { accepted: false })
        },
        messageId,
        owner
      ),

    adopt: (owner, target) => Handoff.adopt(handoff, owner, target),

    release: (owner, mode, options) => Handoff.release(handoff, owner, mode, options)
  })
})

/** The jobs service, with this runtime's instance record (which it also provides). */
export const layer: Layer.Layer<
  Jobs | RuntimeInstance,
  never,
  RuntimeConfig | EventLog | ToolRegistry | HumanInput | Streams | Permissions | Artifacts | Recorder | Feed
> = Layer.scoped(Jobs, make).pipe(Layer.provideMerge(Instance.layer))
