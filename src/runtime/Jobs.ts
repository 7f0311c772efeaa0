/**
 * Jobs (RFC §6.3, §6.4, §10): `tool.invoke` runs the tool as a fiber in a
 * FiberMap keyed by job id; `cancel` interrupts it (ABORTED past the
 * deadline); `interrupt` blocks it on a human answer; logical idempotency
 * keys return the earlier outcome instead of running twice.
 */
import { Clock, Context, Deferred, Duration, Effect, Either, FiberMap, FiberSet, Layer, Option } from "effect"
import { ArcpError, type ErrorPayload } from "../protocol/Errors.js"
import { make as makeEnvelope } from "../protocol/Envelope.js"
import { JobId, makeJobId } from "../protocol/Ids.js"
import { decodeJson, encodeUnchecked, type Message } from "../protocol/Message.js"
import { fromMillis } from "../protocol/Timestamp.js"
import { EventLog } from "../store/EventLog.js"
import { HumanInput } from "./HumanInput.js"
import { deliver, envelope, type Job, type Owner, toRecord, transition } from "./Job.js"
import { runJob } from "./JobRunner.js"
import { RuntimeConfig } from "./RuntimeConfig.js"
import { ToolRegistry } from "./Tools.js"

export class Jobs extends Context.Tag("arcp/Jobs")<Jobs, {
  /** Accepts and starts a job (or returns the earlier outcome of the same idempotency key); NOT_FOUND / INVALID_ARGUMENT before acceptance. */
  readonly invoke: (message: Message<"tool.invoke">, owner: Owner) => Effect.Effect<void, ArcpError>
  /** Answers a job `cancel` with cancel.accepted or cancel.refused (§10.4). */
  readonly cancel: (message: Message<"cancel">, owner: Owner) => Effect.Effect<void, ArcpError>
  /** Blocks the job on a human answer (§10.5); answered with `ack`. */
  readonly interrupt: (message: Message<"interrupt">, owner: Owner) => Effect.Effect<void, ArcpError>
  /** A session is going away: cancel its jobs or detach them (they run on, logged, for a later resume). */
  readonly release: (owner: Owner, mode: "cancel" | "detach") => Effect.Effect<void>
}>() {}

export const make = Effect.gen(function*() {
  const settings = yield* RuntimeConfig
  const log = yield* EventLog
  const tools = yield* ToolRegistry
  const humanInput = yield* HumanInput
  const fibers = yield* FiberMap.make<string>()
  // cancellation waits and interrupt answers: they live as long as the runtime, not as the request
  const background = yield* FiberSet.make()
  const live = new Map<string, Job>()
  const horizonMs = Duration.toMillis(settings.idempotencyHorizon)

  /** Replays the outcome of the job that holds an idempotency key (§6.4): same job id, its terminal if ended, its live events otherwise. */
  const replayOutcome = (jobId: string, message: Message<"tool.invoke">, owner: Owner) =>
    Effect.gen(function*() {
      const record = yield* log.getJob(jobId).pipe(Effect.mapError((e) => ArcpError.of("UNAVAILABLE", `cannot read job ${jobId}: ${e.message}`)))
      if (Option.isNone(record)) return yield* ArcpError.of("INTERNAL", `idempotency key names job ${jobId}, which has no record`)
      const header = { session_id: owner.sessionId, job_id: JobId.make(record.value.job_id), correlation_id: message.id, causation_id: message.id }
      const accepted = yield* makeEnvelope("job.accepted", { job_id: header.job_id, accepted_at: fromMillis(record.value.created_at) }, header)
      yield* owner.sink(accepted)
      const terminal = record.value.terminal
      if (terminal !== undefined) {
        const stored = decodeJson(terminal)
        // the earlier terminal, re-addressed to this command (a new envelope id, same type and payload)
        if (Either.isRight(stored)) {
          const fresh = yield* makeEnvelope(stored.right.type, {}, header)
          yield* owner.sink({ ...stored.right, ...header, id: fresh.id, timestamp: fresh.timestamp, priority: "critical" })
        }
        return
      }
      const job = live.get(jobId)
      if (job !== undefined && job.principal === owner.principal) job.sinks.add(owner.sink)
    })

  const refuse = (message: Message<"cancel">, owner: Owner, reason: "not_cancellable" | "already_terminal" | "not_found") =>
    Effect.flatMap(
      makeEnvelope("cancel.refused", { target: message.payload.target, target_id: message.payload.target_id, reason }, {
        session_id: owner.sessionId,
        correlation_id: message.id
      }),
      owner.sink
    )

  return Jobs.of({
    invoke: (message, owner) =>
      Effect.gen(function*() {
        const tool = yield* Option.match(tools.get(message.payload.tool), {
          onNone: () => Effect.fail(ArcpError.of("NOT_FOUND", `no tool named "${message.payload.tool}"`)),
          onSome: Effect.succeed
        })
        const handler = yield* Either.match(tool.prepare(message.payload.arguments), { onLeft: Effect.fail, onRight: Effect.succeed })
        const id = yield* makeJobId
        const now = yield* Clock.currentTimeMillis
        const key = message.idempotency_key
        if (key !== undefined) {
          const claim = yield* log.claimIdempotencyKey({ principal: owner.principal, key, job_id: id, now, expiresAt: now + horizonMs }).pipe(
            Effect.mapError((e) => ArcpError.of("UNAVAILABLE", `cannot record the idempotency key: ${e.message}`))
          )
          if (claim._tag === "Existing") return yield* replayOutcome(claim.job_id, message, owner)
        }
        const job: Job = {
          id,
          tool,
          principal: owner.principal,
          sessionId: owner.sessionId,
          commandId: message.id,
          traceId: message.trace_id,
          priority: message.priority,
          idempotencyKey: key,
          acceptedAt: now,
          heartbeatIntervalMs: owner.heartbeatIntervalSeconds * 1000,
          sinks: new Set([owner.sink]),
          state: "accepted",
          startedAt: undefined,
          finished: false,
          cancelRequest: undefined,
          gate: undefined,
          interruptAnswer: undefined,
          guidance: Option.none(),
          lastLiveness: now,
          watchdogBlocked: false,
          heartbeatSequence: 0,
          checkpointId: undefined,
          retryCount: 0
        }
        live.set(id, job)
        // acceptance happens on the job's own fiber: the connection goes on reading while the record commits
        const accept = Effect.gen(function*() {
          yield* log.saveJob(toRecord(job, now)).pipe(Effect.catchAll((e) => Effect.logError(`cannot record job ${id}`, e)))
          yield* deliver(job, log, yield* envelope(job, "job.accepted", { job_id: id, accepted_at: fromMillis(now) }, { correlation_id: message.id }))
          // §17.3.1: one tool.invocations per tool.invoke the runtime accepts
          yield* deliver(job, log, yield* envelope(job, "metric", { name: "tool.invocations", value: 1, unit: "count", dims: { tool: tool.name } }))
        })
        yield* FiberMap.run(fibers, id, Effect.zipRight(accept, runJob({
          job,
          handler,
          log,
          humanInput,
          settings,
          onEnd: Effect.sync(() => live.delete(id)),
          abort: Effect.asVoid(FiberSet.run(background, FiberMap.remove(fibers, id)))
        })))
      }),

    cancel: (message, owner) =>
      Effect.gen(function*() {
        const { target, target_id } = message.payload
        if (target !== "job") return yield* refuse(message, owner, "not_found") // streams: none is open; sessions: routed before
        const job = live.get(target_id)
        if (job === undefined || job.principal !== owner.principal) {
          const record = yield* log.getJob(target_id).pipe(Effect.orElseSucceed(() => Option.none()))
          const ended = Option.isSome(record) && record.value.principal === owner.principal && record.value.terminal !== undefined
          return yield* refuse(message, owner, ended ? "already_terminal" : "not_found")
        }
        if (job.finished) return yield* refuse(message, owner, "already_terminal")
        if (!job.tool.cancellable) return yield* refuse(message, owner, "not_cancellable")
        yield* owner.sink(yield* makeEnvelope("cancel.accepted", { target, target_id }, { session_id: owner.sessionId, job_id: job.id, correlation_id: message.id }))
        if (job.cancelRequest !== undefined) return
        job.cancelRequest = { reason: message.payload.reason, source: "client" }
        const deadline = Duration.millis(message.payload.deadline_ms ?? Duration.toMillis(settings.cancelDeadline))
        yield* FiberMap.get(fibers, job.id).pipe(
          Effect.flatMap((fiber) => Effect.timeout(fiber.interruptAsFork(fiber.id()).pipe(Effect.zipRight(fiber.await)), deadline)),
          Effect.catchTag("TimeoutException", () => abandon(job)),
          Effect.catchTag("NoSuchElementException", () => Effect.void),
          FiberSet.run(background)
        )
      }),

    interrupt: (message, owner) =>
      Effect.gen(function*() {
        const { target, target_id } = message.payload
        if (target !== "job") return yield* ArcpError.of("INVALID_ARGUMENT", "only jobs can be interrupted")
        const job = live.get(target_id)
        if (job === undefined || job.principal !== owner.principal) return yield* ArcpError.of("NOT_FOUND", `no live job ${target_id}`)
        if (job.finished) return yield* ArcpError.of("FAILED_PRECONDITION", `job ${target_id} has ended`)
        yield* owner.sink(yield* makeEnvelope("ack", { ack_for: message.id, received_at: fromMillis(yield* Clock.currentTimeMillis) }, {
          session_id: owner.sessionId,
          job_id: job.id,
          correlation_id: message.id
        }))
        if (job.gate !== undefined) return // already waiting for guidance
        const gate = yield* Deferred.make<void>()
        job.gate = gate
        if (transition(job, "blocked")) yield* log.saveJob(toRecord(job, yield* Clock.currentTimeMillis)).pipe(Effect.ignore)
        job.interruptAnswer = yield* humanInput.ask({
          emit: (type, payload, header) =>
            Effect.gen(function*() {
              const env = yield* envelope(job, type, payload, { causation_id: message.id, ...header })
              yield* deliver(job, log, env)
              return env.id
            }),
          principal: job.principal,
          prompt: message.payload.prompt ?? "The job was interrupted. Answer to resume it, with optional guidance.",
          responseSchema: { type: "object", properties: { guidance: { type: "string" } } },
          expiresInSeconds: Duration.toSeconds(settings.interruptExpiry)
        }).pipe(
          Effect.matchEffect({
            onFailure: () => expireInterrupt(job),
            onSuccess: (answer) =>
              Effect.sync(() => {
                const value: unknown = answer.value
                const guidance = typeof value === "object" && value !== null ? Reflect.get(value, "guidance") : undefined
                job.guidance = typeof guidance === "string" ? Option.some(guidance) : job.guidance
                job.gate = undefined
                transition(job, "running")
              }).pipe(Effect.zipRight(Deferred.succeed(gate, undefined)))
          }),
          FiberSet.run(background)
        )
      }),

    release: (owner, mode) =>
      Effect.forEach([...live.values()].filter((j) => j.sessionId === owner.sessionId || j.sinks.has(owner.sink)), (job) =>
        Effect.suspend(() => {
          const detach = Effect.sync(() => job.sinks.delete(owner.sink))
          if (mode === "detach" || job.sessionId !== owner.sessionId || job.finished || !job.tool.cancellable) return detach
          job.cancelRequest ??= { reason: "session closed", source: "client" }
          // the closing session still hears the terminal event, then lets go
          return FiberMap.remove(fibers, job.id).pipe(
            Effect.timeout(settings.cancelDeadline),
            Effect.catchAll(() => abandon(job)),
            Effect.zipRight(detach)
          )
        }), { discard: true })
  })

  /** A cancelled job that did not stop within its deadline ends ABORTED; its fiber is left to finish on its own (§10.4). */
  function abandon(job: Job) {
    return finishFailed(job, { code: "ABORTED", message: "the job did not stop within the cancellation deadline; it was abandoned" })
  }

  /** An interrupt nobody answered in time fails the job (§12.4). */
  function expireInterrupt(job: Job) {
    return finishFailed(job, { code: "DEADLINE_EXCEEDED", message: "the interrupt was not answered before it expired" }).pipe(
      Effect.zipRight(FiberMap.remove(fibers, job.id))
    )
  }

  function finishFailed(job: Job, error: ErrorPayload) {
    return Effect.gen(function*() {
      if (job.finished) return
      job.finished = true
      job.state = "failed"
      const env = yield* envelope(job, "job.failed", { ...error, retryable: false }, { priority: "critical" })
      yield* log.saveJob(toRecord(job, yield* Clock.currentTimeMillis, encodeUnchecked(env))).pipe(Effect.ignore)
      yield* deliver(job, log, env)
      live.delete(job.id)
    })
  }
})

export const layer: Layer.Layer<Jobs, never, RuntimeConfig | EventLog | ToolRegistry | HumanInput> = Layer.scoped(Jobs, make)
