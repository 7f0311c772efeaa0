/** Human input requests from a tool (RFC §12), with expiry driven by TestClock. */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Stream, TestClock } from "effect"
import type { Decoded } from "../../../src/protocol/Message.js"
import * as Tools from "../../../src/runtime/Tools.js"
import { field, memory, open, serverLayer } from "../../support/Harness.js"

const ask = Tools.make({
  name: "ask",
  parameters: Tools.AnyArguments,
  handler: (args, ctx) =>
    ctx.askHuman({
      prompt: "Which branch?",
      responseSchema: {
        type: "object",
        properties: { branch: { type: "string", minLength: 1 } },
        required: ["branch"]
      },
      ...(args["default"] !== undefined ? { default: args["default"] } : {}),
      expiresInSeconds: 60
    })
})

const server = serverLayer({ transport: memory, tools: [ask] })

const collect = (events: Stream.Stream<Decoded>) =>
  Effect.gen(function*() {
    const seen: Array<Decoded> = []
    const fiber = yield* Effect.fork(Stream.runForEach(events, (m) => Effect.sync(() => seen.push(m))))
    return { seen, fiber }
  })

describe("human input", () => {
  it.scoped("R12.4-1 R12.1-1 R12.3-1 R12.3-2 a request carries expires_at; the first valid answer wins; later answers are ignored", () =>
    Effect.gen(function*() {
      const session = yield* open({ capabilities: { human_input: true } })
      const job = yield* session.invoke("ask", {})
      const { seen } = yield* collect(job.events)
      yield* TestClock.adjust("1 second")
      const request = seen.find((m) => m.type === "human.input.request")
      assert.isDefined(request)
      if (request === undefined) return
      assert.isString(field(request, "expires_at"))
      const invalid = yield* Effect.flip(session.respond(request.id, { branch: "" }))
      assert.strictEqual(invalid._tag === "ArcpError" ? invalid.code : invalid._tag, "INVALID_ARGUMENT")
      yield* session.respond(request.id, { branch: "fix/jwt" }, "ntfy:phone")
      yield* session.respond(request.id, { branch: "too-late" }, "email") // ignored: already resolved
      assert.deepStrictEqual(yield* job.outcome, { branch: "fix/jwt" })
    }).pipe(Effect.provide(server)))

  it.scoped("R12.4-2 R12.4-4 an unanswered request expires: human.input.cancelled DEADLINE_EXCEEDED and the job fails", () =>
    Effect.gen(function*() {
      const session = yield* open({ capabilities: { human_input: true } })
      const job = yield* session.invoke("ask", {})
      const { fiber, seen } = yield* collect(job.events)
      yield* TestClock.adjust("61 seconds")
      yield* Fiber.join(fiber)
      const cancelled = seen.find((m) => m.type === "human.input.cancelled")
      assert.strictEqual(field(cancelled, "code"), "DEADLINE_EXCEEDED")
      const error = yield* Effect.flip(job.outcome)
      assert.strictEqual(error._tag === "ArcpError" ? error.code : error._tag, "DEADLINE_EXCEEDED")
    }).pipe(Effect.provide(server)))

  it.scoped("R12.4-3 with a default, expiry synthesizes a response from \"default\" and the job goes on", () =>
    Effect.gen(function*() {
      const session = yield* open({ capabilities: { human_input: true } })
      const job = yield* session.invoke("ask", { default: { branch: "fix/auto" } })
      const { fiber, seen } = yield* collect(job.events)
      yield* TestClock.adjust("61 seconds")
      yield* Fiber.join(fiber)
      const synthesized = seen.find((m) => m.type === "human.input.response")
      assert.strictEqual(field(synthesized, "responded_by"), "default")
      assert.deepStrictEqual(yield* job.outcome, { branch: "fix/auto" })
    }).pipe(Effect.provide(server)))
})
