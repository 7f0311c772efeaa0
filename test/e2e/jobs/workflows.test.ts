/**
 * Workflows over a real WebSocket: a parent job whose steps are child jobs;
 * outputs flow between steps; a failing third step fails the parent naming it,
 * with the earlier outputs recorded; cancelling the parent cancels the step.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import { ArcpError } from "../../../src/protocol/Errors.js"
import { collectUntil, open, serverLayer, webSocket } from "../../support/Harness.js"

const server = serverLayer({ transport: webSocket })

describe("workflows (§6.3)", () => {
  it.scoped("R6.3-2 two steps pass outputs along; the workflow ends workflow.complete then job.completed", () =>
    Effect.gen(function*() {
      const session = yield* open()
      assert.isTrue(session.capabilities.workflows)
      const events = yield* session.messages
      const job = yield* session.startWorkflow("greet", {
        inputs: { name: "ada" },
        steps: [
          { id: "first", tool: "echo", arguments: { who: { $from: "inputs.name" } } },
          { id: "second", tool: "echo", arguments: { again: { $from: "steps.first.output.who" }, n: 2 } }
        ]
      })
      const result = yield* job.outcome
      assert.deepStrictEqual(result, {
        outputs: { first: { who: "ada" }, second: { again: "ada", n: 2 } }
      })
      const seen = yield* collectUntil(events, (m) => m.type === "job.completed" && m.job_id === job.jobId)
      const complete = seen.find((m) => m.type === "workflow.complete")
      assert.strictEqual(complete?.job_id, job.jobId)
      // each step is a job of its own, in the parent's trace
      const steps = seen.filter((m) => m.type === "tool.result")
      assert.strictEqual(steps.length, 2)
      const parentTrace = seen.find((m) => m.job_id === job.jobId)?.trace_id
      for (const step of steps) assert.strictEqual(step.trace_id, parentTrace)
    }).pipe(Effect.provide(server)))

  it.scoped("R6.3-2 a third step that fails fails the parent, naming the step, with the earlier outputs", () =>
    Effect.gen(function*() {
      const session = yield* open()
      const job = yield* session.startWorkflow("three", {
        steps: [
          { id: "a", tool: "echo", arguments: { v: 1 } },
          { id: "b", tool: "echo", arguments: { v: { $from: "steps.a.output.v" } } },
          { id: "c", tool: "fail", arguments: { code: "FAILED_PRECONDITION", message: "no third" } }
        ]
      })
      const outcome = yield* Effect.either(job.outcome)
      assert.isTrue(Either.isLeft(outcome))
      const error = Either.isLeft(outcome) ? outcome.left : undefined
      assert.instanceOf(error, ArcpError)
      if (!(error instanceof ArcpError)) return
      assert.strictEqual(error.code, "FAILED_PRECONDITION")
      assert.include(error.message, "step \"c\"")
      assert.strictEqual(error.details?.["step"], "c")
      assert.deepStrictEqual(error.details?.["outputs"], { a: { v: 1 }, b: { v: 1 } })
    }).pipe(Effect.provide(server)))

  it.scoped("R10.4-1 cancelling the workflow cancels its running step", () =>
    Effect.gen(function*() {
      const session = yield* open()
      const events = yield* session.messages
      const job = yield* session.startWorkflow("slow", {
        steps: [{ id: "wait", tool: "sleep", arguments: { ms: 60_000 } }]
      })
      const started = yield* collectUntil(events, (m) => m.type === "job.started" && m.job_id !== job.jobId)
      const stepJob = started.at(-1)?.job_id
      assert.isDefined(stepJob)
      yield* job.cancel({ reason: "enough" })
      const outcome = yield* Effect.either(job.outcome)
      assert.isTrue(Either.isLeft(outcome) && outcome.left._tag === "ArcpError" && outcome.left.code === "CANCELLED")
      const rest = yield* collectUntil(events, (m) => m.type === "job.cancelled" && m.job_id === stepJob)
      assert.strictEqual(rest.at(-1)?.job_id, stepJob)
    }).pipe(Effect.provide(server)))

  it.scoped("a workflow naming an unknown tool or a later step is refused before it runs", () =>
    Effect.gen(function*() {
      const session = yield* open()
      const unknown = yield* Effect.either(
        session.startWorkflow("bad", { steps: [{ id: "x", tool: "no_such_tool" }] })
      )
      assert.isTrue(Either.isLeft(unknown) && unknown.left._tag === "ArcpError" && unknown.left.code === "NOT_FOUND")
      const forward = yield* Effect.either(session.startWorkflow("bad", {
        steps: [
          { id: "x", tool: "echo", arguments: { v: { $from: "steps.y.output" } } },
          { id: "y", tool: "echo" }
        ]
      }))
      assert.isTrue(
        Either.isLeft(forward) && forward.left._tag === "ArcpError" && forward.left.code === "INVALID_ARGUMENT"
      )
    }).pipe(Effect.provide(server)))
})
