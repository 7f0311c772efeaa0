/**
 * `interrupt` (RFC §10.5, §12): blocks a live job on a human answer — the
 * gate its pause points wait at — and resumes it with the answer's guidance;
 * unanswered past the expiry, the job fails. And the trust check of `invoke`
 * (§15.3, §15.6).
 */
import { Clock, type Context, Deferred, Duration, Effect, type Fiber, Option } from "effect"
import { make as makeEnvelope } from "../../protocol/Envelope.js"
import { ArcpError } from "../../protocol/Errors.js"
import type { MessageId } from "../../protocol/Ids.js"
import type { Message } from "../../protocol/Message.js"
import { fromMillis } from "../../protocol/Timestamp.js"
import type { EventLog } from "../../store/EventLog.js"
import type { HumanInput } from "../HumanInput.js"
import { emit, hasEnded, type Job, moveTo, type Owner } from "../jobs/Job.js"
import type { Permissions } from "../permissions/Permissions.js"
import { atLeast } from "../permissions/Trust.js"
import type { Settings } from "../RuntimeConfig.js"
import type { Tool } from "../Tools.js"

export interface InterruptContext {
  readonly log: Context.Tag.Service<typeof EventLog>
  readonly settings: Settings
  readonly humanInput: Context.Tag.Service<typeof HumanInput>
  readonly liveFor: (principal: string, jobId: string) => Job | undefined
  /** Runs the wait for the answer on the runtime's background fibers. */
  readonly answers: (effect: Effect.Effect<void>) => Effect.Effect<Fiber.RuntimeFiber<void>>
  /** Ends a job whose interrupt expired unanswered (§12.4). */
  readonly expire: (job: Job) => Effect.Effect<void>
}

/** Blocks the job on a human answer (§10.5); answered with `ack`. */
export const interruptJob = Effect.fnUntraced(function*(
  ctx: InterruptContext,
  message: Message<"interrupt">,
  owner: Owner
) {
  const { target, target_id } = message.payload
  if (target !== "job") return yield* ArcpError.of("INVALID_ARGUMENT", "only jobs can be interrupted")
  const job = ctx.liveFor(owner.principal, target_id)
  if (job === undefined) {
    return yield* ArcpError.of("NOT_FOUND", `no live job ${target_id}`)
  }
  if (hasEnded(job)) {
    return yield* ArcpError.of("FAILED_PRECONDITION", `job ${target_id} has ended`)
  }
  // §12: the interrupt's human.input.request goes to the job's session, which must have negotiated human_input
  if (!job.humanInput) {
    return yield* ArcpError.of(
      "FAILED_PRECONDITION",
      "the job's session did not negotiate capabilities.human_input, so it cannot be asked for guidance"
    )
  }
  // an interrupt that would open a prompt past --max-pending-human is refused, not acked
  if (job.gate === undefined) yield* ctx.humanInput.admit(job.sessionId)
  yield* owner.sink(
    yield* makeEnvelope("ack", { ack_for: message.id, received_at: fromMillis(yield* Clock.currentTimeMillis) }, {
      session_id: owner.sessionId,
      job_id: job.id,
      correlation_id: message.id
    })
  )
  yield* blockJob(ctx, job, message.id, message.payload.prompt)
})

/**
 * Blocks live `job` on a human answer (§10.5) for the interrupt `messageId` (received here, or on another
 * runtime and carried by JobControl); nothing when it already waits for guidance.
 */
export const blockJob = Effect.fnUntraced(function*(
  ctx: InterruptContext,
  job: Job,
  messageId: MessageId,
  prompt: string | undefined
) {
  if (job.gate !== undefined) return // already waiting for guidance
  const gate = yield* Deferred.make<void>()
  job.openInterrupt(gate)
  yield* moveTo(job, ctx.log, "blocked")
  const answering = yield* ctx.humanInput.ask({
    emit: (type, payload, header) => emit(job, type, payload, { causation_id: messageId, ...header }),
    principal: job.principal,
    sessionId: job.sessionId,
    prompt: prompt ?? "The job was interrupted. Answer to resume it, with optional guidance.",
    responseSchema: { type: "object", properties: { guidance: { type: "string" } } },
    expiresInSeconds: Duration.toSeconds(ctx.settings.interruptExpiry)
  }).pipe(
    Effect.matchEffect({
      onFailure: () => ctx.expire(job),
      onSuccess: (answer) =>
        Effect.sync(() => {
          const value: unknown = answer.value
          const guidance = typeof value === "object" && value !== null
            ? Reflect.get(value, "guidance")
            : undefined
          job.interruptAnswered(typeof guidance === "string" ? guidance : undefined)
        }).pipe(Effect.zipRight(moveTo(job, ctx.log, "running")), Effect.zipRight(Deferred.succeed(gate, undefined)))
    }),
    ctx.answers
  )
  job.awaitingAnswer(answering)
})

/**
 * §15.3: a tool that needs more trust than the session has is refused, naming the level,
 * unless a live `trust.elevate.<level>` lease of the principal lifts it high enough (§15.6).
 */
export const checkTrust = Effect.fnUntraced(
  function*(permissions: Context.Tag.Service<typeof Permissions>, tool: Tool, owner: Owner) {
    const needed = tool.minimumTrust
    if (needed === undefined || atLeast(owner.trustLevel, needed)) return
    const elevated = yield* permissions.elevation(owner.principal)
    if (Option.isSome(elevated) && atLeast(elevated.value.level, needed)) {
      return yield* Effect.logInfo(
        `${owner.principal} invokes ${tool.name} (needs ${needed}) under elevation lease ${elevated.value.lease.lease_id}`
      )
    }
    return yield* ArcpError.of(
      "PERMISSION_DENIED",
      `tool "${tool.name}" needs trust level ${needed}; this session is ${owner.trustLevel}`,
      { details: { required_trust_level: needed, trust_level: owner.trustLevel } }
    )
  }
)
