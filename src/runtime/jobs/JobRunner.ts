/**
 * The body of a job's fiber (RFC §10): accepted → started → the handler with
 * its `ToolContext` → exactly one terminal, however the fiber is stopped;
 * heartbeats and the liveness watchdog (§10.3).
 */
import { Cause, Clock, type Context, Deferred, Duration, Effect, Exit, Option, Stream, type Tracer } from "effect"
import { currentTimeMillis, withMillis } from "../../internal/Now.js"
import type { HeaderOptions } from "../../protocol/Envelope.js"
import { ArcpError } from "../../protocol/Errors.js"
import { makeCheckpointId } from "../../protocol/Ids.js"
import type { MessageType, PayloadOf } from "../../protocol/Message.js"
import { checkMetric } from "../../protocol/messages/Telemetry.js"
import { fromMillis } from "../../protocol/Timestamp.js"
import type { EventLog } from "../../store/EventLog.js"
import type { Artifacts } from "../artifacts/Artifacts.js"
import type { Remotes } from "../delegation/Remotes.js"
import type { HumanInput } from "../HumanInput.js"
import { announce, cancelled, count, failed, finish as finishWith, forJob, type Terminal } from "../internal/Finish.js"
import type { Heartbeats } from "../internal/Heartbeats.js"
import { retrying } from "../internal/Retry.js"
import type { Permissions } from "../permissions/Permissions.js"
import type { Settings } from "../RuntimeConfig.js"
import type { Streams } from "../Streams.js"
import { ResultRef, type ToolContext } from "../Tools.js"
import { endSpan } from "../tracing/Spans.js"
import { tracedContext } from "../tracing/ToolSpans.js"
import { awaitRoom, emit as emitFor, hasEnded, type Job, moveTo, roomWait, toRecord } from "./Job.js"

export interface RunParams {
  readonly job: Job
  readonly handler: (ctx: ToolContext) => Effect.Effect<unknown, ArcpError>
  readonly log: Context.Tag.Service<typeof EventLog>
  readonly humanInput: Context.Tag.Service<typeof HumanInput>
  readonly streams: Context.Tag.Service<typeof Streams>
  readonly artifacts: Context.Tag.Service<typeof Artifacts>
  readonly permissions: Context.Tag.Service<typeof Permissions>
  readonly settings: Settings
  /** The runtime's heartbeat scheduler: the job is registered while it runs. */
  readonly heartbeats: Heartbeats
  /** Runs once the job has ended, whatever the way. */
  readonly onEnd: Effect.Effect<void>
  /** Interrupts this job's fiber and waits for it to stop. */
  readonly abort: Effect.Effect<void>
  /** Runs an effect on the runtime's background fibers, without waiting for it. */
  readonly background: (effect: Effect.Effect<void>) => Effect.Effect<void>
  /** The peer runtimes `ctx.delegate` reaches (§14), when the runtime has them. */
  readonly remotes: Option.Option<Context.Tag.Service<typeof Remotes>>
  /**
   * True while the runtime shuts down: a job whose tool can resume is then left unfinished (no
   * terminal) for the next start to take over from its checkpoint (§4.3), not ended cancelled.
   */
  readonly stopping?: (() => boolean) | undefined
  /** The job's span, when the job's fiber runs in it (`Jobs`): ended here, once the job has ended. */
  readonly span?: Tracer.Span | undefined
}

/** N of §10.3: consecutive missed heartbeat deadlines before the watchdog acts. */
const MISSED_DEADLINES = 2

/**
 * The job's fiber. Acceptance (record, job.accepted) cannot be interrupted,
 * so a job stopped at any point — even before it started — ends with its one
 * terminal, job.cancelled when interrupted (§10.2, §10.4).
 */
export const runJob = (params: RunParams): Effect.Effect<void> => {
  const { job, log, settings } = params
  const emit = <T extends MessageType>(type: T, payload: PayloadOf<T>, header: HeaderOptions = {}) =>
    emitFor(job, type, payload, header)
  const finish = (terminal: Terminal) =>
    finishWith({ log, streams: params.streams, maxJsonDepth: settings.maxJsonDepth }, job, forJob(job, terminal))
  // awaited: the checkpoint id is durable before the handler goes on
  const save = Effect.flatMap(Clock.currentTimeMillis, (now) => log.saveJob(toRecord(job, now))).pipe(
    Effect.catchAll((e) => Effect.logError(`cannot record job ${job.id}`, e))
  )

  const pausePoint: Effect.Effect<Option.Option<string>> = Effect.suspend(() =>
    job.gate === undefined ? Effect.void : Deferred.await(job.gate)
  ).pipe(Effect.map(() => job.guidance))

  /** Job events from the handler: after any pause, once its readers have room, and never after the terminal. */
  const event = <T extends MessageType>(type: T, payload: PayloadOf<T>) =>
    Effect.suspend(() => {
      const turnDue = job.turn()
      // the common case, checked in one step: not paused, not ended, no turn due, room everywhere (issue 12)
      if (job.gate === undefined && !hasEnded(job) && roomWait(job, type, turnDue) === undefined) {
        return Effect.asVoid(emit(type, payload))
      }
      return pausePoint.pipe(
        Effect.zipRight(awaitRoom(job, type, turnDue)),
        Effect.zipRight(Effect.suspend(() => (hasEnded(job) ? Effect.void : Effect.asVoid(emit(type, payload)))))
      )
    })

  /** Back to running after a wait, unless an interrupt holds the job (its answer resumes it) or it has ended. */
  const unblock = Effect.suspend(() =>
    job.gate !== undefined || hasEnded(job) ? Effect.void : Effect.asVoid(moveTo(job, log, "running"))
  )

  /** §12: no human request goes to a session that did not negotiate human_input (the error built only when asked). */
  const humanInputNegotiated = Effect.suspend(() =>
    job.humanInput ? Effect.void : Effect.fail(
      ArcpError.of(
        "FAILED_PRECONDITION",
        "the session did not negotiate capabilities.human_input, so no human request can be sent to it"
      )
    )
  )

  /** A human request (§12): at a pause point, to a session that negotiated it, with room; blocked until answered. */
  const blockedOnHuman = <A, E>(ask: () => Effect.Effect<A, E>) =>
    Effect.gen(function*() {
      yield* pausePoint
      yield* humanInputNegotiated
      yield* awaitRoom(job)
      yield* moveTo(job, log, "blocked")
      return yield* Effect.ensuring(Effect.suspend(ask), unblock)
    })

  // one per attempt, with the attempt's number as a plain field: an object literal with a getter (and a spread of
  // one) takes V8's slow path, ~1-2% of a job's server CPU (issue 12)
  const contextOf = (): ToolContext =>
    tracedContext({
      jobId: job.id,
      sessionId: job.sessionId,
      principal: job.principal,
      attempt: job.retryCount + 1,
      restored: job.restored,
      progress: (p) => event("job.progress", p),
      log: (level, message, attributes) =>
        event("log", { level, message, ...(attributes !== undefined ? { attributes } : {}) }),
      metric: (name, value, unit, dims) => {
        const verdict = checkMetric({ name, unit, dims })
        return verdict === true
          ? event("metric", { name, value, unit, ...(dims !== undefined ? { dims } : {}) })
          : Effect.fail(ArcpError.of("INVALID_ARGUMENT", verdict.message))
      },
      heartbeat: Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.suspend(() => {
          // liveness is back: a job the watchdog blocked runs again (and its record says so)
          if (!job.alive(now)) return Effect.void
          return Effect.map(moveTo(job, log, "running"), (moved) => {
            if (moved) job.watchdog(false)
          })
        })),
      // a chain, not a generator function made here: this context is made per job (issue 12)
      checkpoint: (snapshot) =>
        Effect.flatMap(makeCheckpointId, (id) => {
          job.checkpointed(id)
          // the job.checkpoint event in the log is what a restart resumes from (§4.3), committed before any
          // later event of the job; the record takes the id with its next write (state, retry, terminal)
          return Effect.as(
            event("job.checkpoint", { checkpoint_id: id, ...(snapshot !== undefined ? { snapshot } : {}) }),
            id
          )
        }),
      pausePoint,
      stream: (options) => Effect.zipRight(pausePoint, params.streams.open(job, options, pausePoint)),
      askHuman: (request) =>
        Effect.map(
          blockedOnHuman(() =>
            params.humanInput.ask({
              emit,
              principal: job.principal,
              sessionId: job.sessionId,
              prompt: request.prompt,
              responseSchema: request.responseSchema,
              ...(request.default !== undefined ? { default: request.default } : {}),
              expiresInSeconds: request.expiresInSeconds ?? Duration.toSeconds(settings.interruptExpiry)
            })
          ),
          (answer) => answer.value
        ),
      askChoice: (request) =>
        Effect.map(
          blockedOnHuman(() =>
            params.humanInput.choose({
              emit,
              principal: job.principal,
              sessionId: job.sessionId,
              prompt: request.prompt,
              options: request.options,
              default: request.default,
              expiresInSeconds: request.expiresInSeconds ?? Duration.toSeconds(settings.interruptExpiry)
            })
          ),
          (answer) => typeof answer.value === "string" ? answer.value : String(answer.value)
        ),
      requestPermission: (request) =>
        Effect.zipRight(
          pausePoint,
          params.permissions.request({
            principal: job.principal,
            sessionId: job.sessionId,
            jobId: job.id,
            tool: job.tool.name,
            trustLevel: job.trustLevel,
            emit,
            block: Effect.asVoid(moveTo(job, log, "blocked")),
            unblock
          }, request)
        ),
      checkLease: (leaseId) => Effect.zipRight(pausePoint, params.permissions.check(leaseId, job.principal)),
      putArtifact: (data, mediaType, options) =>
        Effect.zipRight(
          pausePoint,
          params.artifacts.put(
            { principal: job.principal, sessionId: job.sessionId },
            { mediaType, ttlSeconds: options?.ttlSeconds },
            data instanceof Uint8Array ? Stream.succeed(data) : data
          )
        ),
      delegate: (request) =>
        Effect.zipRight(
          pausePoint,
          Option.match(params.remotes, {
            onNone: () =>
              Effect.fail(ArcpError.of("FAILED_PRECONDITION", "this runtime has no remote runtimes configured")),
            // the delegated job's id is recorded on this job: where its work went (§14)
            onSome: (remotes) =>
              remotes.delegate(request, (remoteJobId) =>
                event("log", {
                  level: "info",
                  message: `delegated to ${request.remote}/${request.target} as job ${remoteJobId}`,
                  attributes: { reason: "delegated", remote: request.remote, remote_job_id: remoteJobId }
                }))
          })
        )
    })

  /** One job.heartbeat. Sinks only queue it; a detached job's awaits the log, so the scheduler does not wait for that. */
  const vouch = Effect.suspend(() => {
    const sequence = job.nextHeartbeat()
    const beat = Effect.asVoid(
      emit("job.heartbeat", { sequence, deadline_ms: job.heartbeatIntervalMs, state: job.state })
    )
    return Effect.as(job.watcher !== undefined ? beat : params.background(beat), true)
  })

  /**
   * One heartbeat deadline (§10.3), run by the runtime's scheduler at the
   * negotiated interval from the start: a heartbeat, for self-reporting tools
   * only while they report, and the watchdog. `false` ends the schedule.
   */
  const tick = (now: number): Effect.Effect<boolean> =>
    Effect.suspend(() => {
      if (hasEnded(job)) return Effect.succeed(false)
      const intervalMs = job.heartbeatIntervalMs
      const silentMs = now - job.lastLiveness
      const reported = job.tool.liveness === "reported"
      if (reported && silentMs >= MISSED_DEADLINES * intervalMs && job.state !== "blocked") {
        if (settings.heartbeatRecovery === "fail") {
          const message = `no liveness for ${silentMs} ms (${MISSED_DEADLINES} missed heartbeat deadlines)`
          // ended off the scheduler: a deaf handler must not hold up other jobs' heartbeats
          return Effect.as(
            params.background(Effect.zipRight(finish(failed({ code: "HEARTBEAT_LOST", message })), params.abort)),
            false
          )
        }
        return Effect.flatMap(moveTo(job, log, "blocked"), (moved) => {
          if (moved) job.watchdog(true)
          return vouch
        })
      }
      // a missed deadline: nothing to vouch for
      if (reported && silentMs >= intervalMs && !job.watchdogBlocked) return Effect.succeed(true)
      return vouch
    })

  /** §10.2: the retry count is persisted before the attempt it counts runs. */
  const retryStarts = Effect.suspend(() => {
    job.retried()
    return save
  })

  /** Each retry is visible to the job's watchers: a `log` warn event with the code and the backoff. */
  const announceRetry = (error: ArcpError, delay: Duration.Duration) =>
    Effect.suspend(() => {
      const attempts = job.tool.retry?.attempts ?? 1
      const ms = Duration.toMillis(delay)
      return event("log", {
        level: "warn",
        message: `attempt ${job.retryCount + 1} of ${attempts} failed with ${error.code}: ${error.message}; ` +
          `retrying in ${ms} ms`,
        attributes: {
          reason: "retry",
          code: error.code,
          attempt: job.retryCount + 1,
          retry_count: job.retryCount + 1,
          delay_ms: ms
        }
      })
    })

  /**
   * The record, then job.accepted. Staged, not awaited: it commits no later than job.accepted
   * (recorded through the same writer after it), and usually in one statement with `running`.
   */
  const accept = withMillis((now) => log.stageJob(toRecord(job, now))).pipe(
    Effect.zipRight(announce(job))
  )

  // steps chained, not an `Effect.gen` here: a `function*` evaluated per job makes a hidden class per job, in the
  // old generation, which keeps the job's objects alive until the next full GC (issue 12)
  const run = Effect.flatMap(currentTimeMillis, (startedAt) => {
    job.started(startedAt)
    // WIRE order: accepted → started → events (the runtime's metric included)
    // a job started again after a restart names the checkpoint it continues from (docs/decisions.md)
    const from = job.restored?.checkpointId
    return moveTo(job, log, "running").pipe(
      Effect.zipRight(Effect.suspend(() =>
        emit("job.started", {
          job_id: job.id,
          started_at: fromMillis(startedAt),
          ...(from !== undefined ? { checkpoint_id: from } : {})
        })
      )),
      Effect.zipRight(Effect.suspend(() => count(job))),
      Effect.zipRight(
        Effect.suspend(() =>
          params.heartbeats.register(job, startedAt + job.heartbeatIntervalMs, job.heartbeatIntervalMs, tick)
        )
      ),
      Effect.zipRight(Effect.suspend(() => handled))
    )
  })
  const handled = Effect.matchCauseEffect(
    retrying({
      policy: job.tool.retry,
      attempt: Effect.suspend(() => params.handler(contextOf())),
      beforeRetry: retryStarts,
      proceed: () => !hasEnded(job),
      onRetry: announceRetry
    }),
    {
      onSuccess: (value) =>
        finish({
          type: "tool.result",
          payload: value instanceof ResultRef ? { result_ref: value.ref } : value === undefined ? {} : { value },
          state: "completed"
        }),
      onFailure: (cause) => {
        // the tool's own error wherever it sits in the cause (Effect.all with concurrency gives a Parallel cause)
        const failure = Option.getOrElse(
          Cause.failureOption(cause),
          () => ArcpError.of("INTERNAL", "the tool failed unexpectedly")
        )
        return finish({ type: "tool.error", payload: failure.toPayload(), state: "failed" })
      }
    }
  )

  /** Interrupted: the job ends cancelled, or, while the runtime stops, is left for the next start to resume. */
  const interrupted = Effect.suspend(() =>
    params.stopping?.() === true && job.tool.resume !== undefined && job.argumentsJson !== undefined
      ? Effect.logInfo(`job ${job.id} left for the next start to resume from its checkpoint`)
      : finish(cancelled(job))
  )

  // one exit handler for the heartbeat registration, an interrupt's terminal and `onEnd`, in that order (it was
  // an `ensuring`, an `onInterrupt` and an `ensuring`: ~20 fewer fiber steps per job, issue 12)
  return Effect.uninterruptibleMask((restore) =>
    accept.pipe(
      // an interrupt that came during acceptance takes effect here, before job.started
      Effect.zipRight(restore(run)),
      Effect.onExit((exit) => {
        const ended = Effect.zipRight(
          params.heartbeats.unregister(job),
          Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause)
            ? Effect.ensuring(interrupted, params.onEnd)
            : params.onEnd
        )
        return params.span === undefined ? ended : Effect.zipRight(ended, endSpan(params.span, exit))
      })
    )
  )
}
