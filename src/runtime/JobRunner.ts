/**
 * The body of a job's fiber (RFC §10): started → the handler with its
 * `ToolContext` → exactly one terminal; heartbeats and the liveness watchdog
 * (§10.3); the runtime-owned metrics (§17.3.1).
 */
import { Clock, type Context, Deferred, Duration, Effect, Exit, Fiber, type Option } from "effect"
import { ArcpError, type ErrorPayload } from "../protocol/Errors.js"
import { makeCheckpointId } from "../protocol/Ids.js"
import { encodeUnchecked, type MessageType, type PayloadOf } from "../protocol/Message.js"
import { checkMetric } from "../protocol/messages/Telemetry.js"
import { fromMillis } from "../protocol/Timestamp.js"
import type { EventLog } from "../store/EventLog.js"
import type { HumanInput } from "./HumanInput.js"
import { deliver, envelope, type Job, toRecord, transition } from "./Job.js"
import type { Settings } from "./RuntimeConfig.js"
import type { ToolContext } from "./Tools.js"

export interface RunParams {
  readonly job: Job
  readonly handler: (ctx: ToolContext) => Effect.Effect<unknown, ArcpError>
  readonly log: Context.Tag.Service<typeof EventLog>
  readonly humanInput: Context.Tag.Service<typeof HumanInput>
  readonly settings: Settings
  /** Runs once the job has ended, whatever the way. */
  readonly onEnd: Effect.Effect<void>
  /** Interrupts this job's fiber without waiting for it (the watchdog's verdict must not wait on a deaf handler). */
  readonly abort: Effect.Effect<void>
}

/** N of §10.3: consecutive missed heartbeat deadlines before the watchdog acts. */
const MISSED_DEADLINES = 2

type Terminal =
  | { readonly type: "tool.result"; readonly payload: PayloadOf<"tool.result">; readonly state: "completed" }
  | { readonly type: "tool.error" | "job.failed"; readonly payload: ErrorPayload; readonly state: "failed" }
  | { readonly type: "job.cancelled"; readonly payload: PayloadOf<"job.cancelled">; readonly state: "cancelled" }

export const runJob = (params: RunParams): Effect.Effect<void> => {
  const { job, log, settings } = params

  const emit = <T extends MessageType>(type: T, payload: PayloadOf<T>, header: { readonly correlation_id?: typeof job.commandId; readonly priority?: "critical" } = {}) =>
    Effect.gen(function*() {
      const env = yield* envelope(job, type, payload, header)
      yield* deliver(job, log, env)
      return env.id
    })
  const save = Effect.flatMap(Clock.currentTimeMillis, (now) => log.saveJob(toRecord(job, now))).pipe(
    Effect.catchAll((e) => Effect.logError(`cannot record job ${job.id}`, e))
  )
  const metric = (name: string, value: number, unit: string, dims: Record<string, string>) =>
    emit("metric", { name, value, unit, dims })

  /** Emits the one terminal event; later attempts (a late handler, an abandoned fiber) do nothing. */
  const finish = (terminal: Terminal) =>
    Effect.gen(function*() {
      if (job.finished) return
      // a pending interrupt prompt is withdrawn (human.input.cancelled) before the terminal event
      const pending = job.interruptAnswer
      if (pending !== undefined) {
        job.interruptAnswer = undefined
        yield* Fiber.interrupt(pending)
      }
      if (job.finished) return
      job.finished = true
      job.state = terminal.state
      const end = yield* Clock.currentTimeMillis
      const started = job.startedAt ?? end
      yield* metric("latency.ms", started - job.acceptedAt, "ms", { phase: "queue", tool: job.tool.name })
      yield* metric("latency.ms", end - started, "ms", { phase: "exec", tool: job.tool.name })
      yield* metric("latency.ms", end - job.acceptedAt, "ms", { phase: "total", tool: job.tool.name })
      if (terminal.state === "failed") yield* metric("errors.total", 1, "count", { code: terminal.payload.code, tool: job.tool.name })
      const correlated = terminal.type === "tool.result" || terminal.type === "tool.error"
      const env = yield* envelope(job, terminal.type, terminal.payload, {
        priority: "critical",
        ...(correlated ? { correlation_id: job.commandId } : {})
      })
      yield* log.saveJob(toRecord(job, end, encodeUnchecked(env))).pipe(Effect.catchAll((e) => Effect.logError(`cannot record job ${job.id}`, e)))
      yield* deliver(job, log, env)
    })

  const pausePoint: Effect.Effect<Option.Option<string>> = Effect.suspend(() =>
    job.gate === undefined ? Effect.void : Deferred.await(job.gate)
  ).pipe(Effect.map(() => job.guidance))

  /** Job events from the handler: after any pause, and never after the terminal. */
  const event = <T extends MessageType>(type: T, payload: PayloadOf<T>) =>
    pausePoint.pipe(Effect.zipRight(Effect.suspend(() => (job.finished ? Effect.void : Effect.asVoid(emit(type, payload))))))

  const ctx: ToolContext = {
    jobId: job.id,
    sessionId: job.sessionId,
    principal: job.principal,
    progress: (p) => event("job.progress", p),
    log: (level, message, attributes) => event("log", { level, message, ...(attributes !== undefined ? { attributes } : {}) }),
    metric: (name, value, unit, dims) => {
      const verdict = checkMetric({ name, unit, dims })
      return verdict === true
        ? event("metric", { name, value, unit, ...(dims !== undefined ? { dims } : {}) })
        : Effect.fail(ArcpError.of("INVALID_ARGUMENT", verdict.message))
    },
    heartbeat: Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.sync(() => {
        job.lastLiveness = now
        if (job.watchdogBlocked && job.gate === undefined && transition(job, "running")) job.watchdogBlocked = false
      })),
    checkpoint: (snapshot) =>
      Effect.gen(function*() {
        const id = yield* makeCheckpointId
        job.checkpointId = id
        yield* event("job.checkpoint", { checkpoint_id: id, ...(snapshot !== undefined ? { snapshot } : {}) })
        yield* save
        return id
      }),
    pausePoint,
    askHuman: (request) =>
      Effect.gen(function*() {
        yield* pausePoint
        if (transition(job, "blocked")) yield* save
        const answer = yield* params.humanInput.ask({
          emit,
          principal: job.principal,
          prompt: request.prompt,
          responseSchema: request.responseSchema,
          ...(request.default !== undefined ? { default: request.default } : {}),
          expiresInSeconds: request.expiresInSeconds ?? Duration.toSeconds(settings.interruptExpiry)
        }).pipe(Effect.ensuring(Effect.sync(() => transition(job, "running"))))
        return answer.value
      })
  }

  /** Heartbeats at the negotiated interval (§10.3); for self-reporting tools, only while they report, and the watchdog. */
  const heartbeats =
    Effect.gen(function*() {
      const intervalMs = job.heartbeatIntervalMs
      while (!job.finished) {
        yield* Effect.sleep(Duration.millis(intervalMs))
        if (job.finished) return
        const silentMs = (yield* Clock.currentTimeMillis) - job.lastLiveness
        if (job.tool.liveness === "reported" && silentMs >= MISSED_DEADLINES * intervalMs && job.state !== "blocked") {
          if (settings.heartbeatRecovery === "fail") {
            const message = `no liveness for ${silentMs} ms (${MISSED_DEADLINES} missed heartbeat deadlines)`
            yield* finish({ type: "job.failed", payload: { code: "HEARTBEAT_LOST", message, retryable: false }, state: "failed" })
            return yield* params.abort
          }
          if (transition(job, "blocked")) job.watchdogBlocked = true
        } else if (job.tool.liveness === "reported" && silentMs >= intervalMs && !job.watchdogBlocked) {
          continue // a missed deadline: nothing to vouch for
        }
        job.heartbeatSequence += 1
        yield* emit("job.heartbeat", { sequence: job.heartbeatSequence, deadline_ms: intervalMs, state: job.state })
      }
    })

  return Effect.gen(function*() {
    const startedAt = yield* Clock.currentTimeMillis
    job.startedAt = startedAt
    // not persisted here: the record is written at acceptance, on blocking, checkpoints and the terminal
    transition(job, "running")
    yield* emit("job.started", { job_id: job.id, started_at: fromMillis(startedAt) })
    yield* Effect.forkScoped(heartbeats)
    const outcome = yield* Effect.exit(params.handler(ctx))
    yield* Exit.match(outcome, {
      onSuccess: (value) => finish({ type: "tool.result", payload: value === undefined ? {} : { value }, state: "completed" }),
      onFailure: (cause) => {
        const failure = cause._tag === "Fail" ? cause.error : ArcpError.of("INTERNAL", "the tool failed unexpectedly")
        return finish({ type: "tool.error", payload: failure.toPayload(), state: "failed" })
      }
    })
  }).pipe(
    Effect.scoped,
    Effect.onInterrupt(() =>
      finish({
        type: "job.cancelled",
        payload: { ...(job.cancelRequest?.reason !== undefined ? { reason: job.cancelRequest.reason } : {}), source: job.cancelRequest?.source ?? "runtime" },
        state: "cancelled"
      })
    ),
    Effect.ensuring(params.onEnd)
  )
}
