/**
 * Workflows (RFC §6.2, §6.3): `workflow.start` runs a sequence of tool
 * invocations as a parent job whose steps are child jobs of the same session
 * and trace. Each step's arguments may take values from the inputs or from
 * earlier steps' outputs (`{"$from": ...}`, see References). The parent ends
 * with `workflow.complete {outputs}` then job.completed; a failed step fails
 * the parent, naming the step, with the earlier outputs in its details;
 * cancelling the parent cancels the running step. Payload shape:
 * docs/decisions.md.
 */
import { type Context, Deferred, Effect, Either, Option } from "effect"
import { make as makeEnvelope } from "../../protocol/Envelope.js"
import { ArcpError, type ErrorPayload } from "../../protocol/Errors.js"
import type { JobId } from "../../protocol/Ids.js"
import { type Decoded, isCore, type Message, type PayloadOf } from "../../protocol/Message.js"
import type { Owner } from "../jobs/Job.js"
import type { Jobs } from "../jobs/Jobs.js"
import type { RouteContext } from "../Router.js"
import type { Tool, ToolContext, ToolRegistry } from "../Tools.js"
import { checkReferences, resolveReferences } from "./References.js"

export interface WorkflowServices {
  readonly jobs: Context.Tag.Service<typeof Jobs>
  readonly tools: Context.Tag.Service<typeof ToolRegistry>
}

type Step = NonNullable<PayloadOf<"workflow.start">["steps"]>[number]

/** How a step ended: its result, or its error. */
type StepOutcome = Either.Either<unknown, ErrorPayload>

const outcomeOf = (terminal: Decoded): StepOutcome => {
  if (!isCore(terminal)) return Either.left({ code: "INTERNAL", message: `unexpected ${terminal.type}` })
  switch (terminal.type) {
    case "tool.result":
      return Either.right(terminal.payload.value ?? terminal.payload.result_ref ?? null)
    case "job.completed":
      return Either.right(terminal.payload.result ?? terminal.payload.result_ref ?? null)
    case "tool.error":
    case "job.failed":
      return Either.left(terminal.payload)
    case "job.cancelled":
      return Either.left({ code: "CANCELLED", message: terminal.payload.reason ?? "the step was cancelled" })
    default:
      return Either.left({ code: "INTERNAL", message: `unexpected ${terminal.type}` })
  }
}

const terminal = new Set(["tool.result", "tool.error", "job.completed", "job.failed", "job.cancelled"])

/**
 * Runs one step as a child job of `owner`'s session: its events reach the session like those of any other job;
 * its terminal settles the step. Interrupted (the parent was cancelled), it cancels the step's job
 * and waits for it to end.
 */
const runStep = Effect.fnUntraced(
  function*(services: WorkflowServices, owner: Owner, step: Step, args: Record<string, unknown>) {
    const command = yield* makeEnvelope("tool.invoke", { tool: step.tool, arguments: args }, {
      session_id: owner.sessionId
    })
    const accepted = yield* Deferred.make<JobId>()
    const ended = yield* Deferred.make<Decoded>()
    let cancelId: string | undefined
    let stepJobId: JobId | undefined
    const stepOwner: Owner = {
      ...owner,
      sink: Effect.fnUntraced(function*(envelope) {
        // the answer to our own cancel is ours, not the session's
        if (cancelId !== undefined && envelope.correlation_id === cancelId) return
        if (envelope.type === "job.accepted" && envelope.correlation_id === command.id) {
          stepJobId = envelope.job_id
          if (stepJobId !== undefined) yield* Deferred.succeed(accepted, stepJobId)
        }
        yield* owner.sink(envelope)
        if (terminal.has(envelope.type) && envelope.job_id === stepJobId) yield* Deferred.succeed(ended, envelope)
      })
    }
    yield* services.jobs.invoke(command, stepOwner)
    const jobId = yield* Deferred.await(accepted)
    const cancelStep = Effect.gen(function*() {
      const payload: PayloadOf<"cancel"> = { target: "job", target_id: jobId, reason: "the workflow was cancelled" }
      const cancel = yield* makeEnvelope("cancel", payload, { session_id: owner.sessionId })
      cancelId = cancel.id
      yield* services.jobs.cancel(cancel, stepOwner).pipe(Effect.ignore)
      yield* Deferred.await(ended)
    })
    const end = yield* Deferred.await(ended).pipe(Effect.onInterrupt(() => cancelStep))
    return { jobId, outcome: outcomeOf(end) }
  }
)

/** The parent job's body: the steps in order. */
const body = (
  services: WorkflowServices,
  owner: Owner,
  name: string,
  steps: ReadonlyArray<Step>,
  inputs: Record<string, unknown>,
  commandId: Message["id"]
) =>
(ctx: ToolContext): Effect.Effect<unknown, ArcpError> =>
  Effect.gen(function*() {
    const outputs: Record<string, unknown> = {}
    const failures: Record<string, ErrorPayload> = {}
    for (const [index, step] of steps.entries()) {
      yield* ctx.progress({ current: index, total: steps.length, message: `step ${step.id} (${step.tool})` })
      const args = yield* resolveReferences(step.arguments ?? {}, { inputs, outputs })
      const { jobId, outcome } = yield* runStep(services, owner, step, args)
      yield* ctx.log("info", `workflow step ${step.id} ran as job ${jobId}`, {
        reason: "workflow_step",
        step: step.id,
        step_job_id: jobId,
        tool: step.tool,
        outcome: Either.isRight(outcome) ? "completed" : outcome.left.code
      })
      if (Either.isRight(outcome)) {
        outputs[step.id] = outcome.right
        continue
      }
      if (step.on_failure === "continue") {
        failures[step.id] = outcome.left
        continue
      }
      return yield* ArcpError.of(
        outcome.left.code,
        `workflow ${name} failed at step "${step.id}" (${step.tool}): ${outcome.left.message}`,
        { details: { step: step.id, step_job_id: jobId, tool: step.tool, outputs } }
      )
    }
    yield* ctx.progress({ current: steps.length, total: steps.length, message: "done" })
    const result = { outputs, ...(Object.keys(failures).length > 0 ? { failures } : {}) }
    // §6.3: the workflow's own end, then the job's terminal (WIRE: workflow jobs end job.completed)
    yield* owner.sink(
      yield* makeEnvelope("workflow.complete", { outputs: result }, {
        session_id: owner.sessionId,
        job_id: ctx.jobId,
        causation_id: commandId
      })
    )
    return result
  })

/** `workflow.start`: checked whole before it is accepted (unknown tools, bad references), then run as a job. */
export const start =
  (services: WorkflowServices) =>
  (message: Message<"workflow.start">, { owner }: RouteContext): Effect.Effect<void, ArcpError> =>
    Effect.gen(function*() {
      const { inputs = {}, steps, workflow } = message.payload
      if (steps === undefined) {
        return yield* ArcpError.of(
          "NOT_FOUND",
          `no workflow named "${workflow}" is declared on this runtime; send its steps in the payload (docs/decisions.md)`
        )
      }
      const seen = new Set<string>()
      for (const step of steps) {
        if (seen.has(step.id)) return yield* ArcpError.of("INVALID_ARGUMENT", `step id "${step.id}" is used twice`)
        if (Option.isNone(services.tools.get(step.tool))) {
          return yield* ArcpError.of("NOT_FOUND", `step "${step.id}" names no tool of this runtime: "${step.tool}"`, {
            details: { step: step.id, tool: step.tool }
          })
        }
        yield* checkReferences(step.arguments ?? {}, step.id, seen)
        seen.add(step.id)
      }
      const parent: Tool = {
        name: `workflow.${workflow}`,
        description: `workflow ${workflow}`,
        cancellable: true,
        liveness: "runtime",
        prepare: () => Either.right(body(services, owner, workflow, steps, inputs, message.id))
      }
      const invoke: Message<"tool.invoke"> = {
        ...message,
        type: "tool.invoke",
        payload: { tool: parent.name, arguments: inputs }
      }
      yield* services.jobs.invoke(invoke, owner, undefined, { tool: parent, endsAsJob: true })
    })
