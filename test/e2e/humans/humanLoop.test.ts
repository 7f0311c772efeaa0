/**
 * Human input made complete (RFC §10.5, §12) over a real WebSocket: the
 * human_input capability is honoured, respond() settles on the runtime's
 * verdict, the ask and choose demo tools, and interrupts that block at once.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, TestClock } from "effect"
import * as Client from "../../../src/client/Client.js"
import { MessageId } from "../../../src/protocol/Ids.js"
import { toMillis } from "../../../src/protocol/Timestamp.js"
import { EventLog } from "../../../src/store/EventLog.js"
import { collectUntil, field, open, serverLayer, webSocket } from "../../support/Harness.js"

const server = serverLayer({ transport: webSocket, runtime: { idleTimeout: "2 hours" } })
const human = { capabilities: { human_input: true } }

const code = (e: { readonly _tag: string; readonly code?: string | undefined }) =>
  e._tag === "ArcpError" ? e.code : e._tag

const stateOf = (jobId: string) =>
  Effect.flatMap(EventLog, (log) => Effect.map(log.getJob(jobId), (r) => Option.getOrUndefined(r)?.state))

describe("human input over WebSocket", () => {
  it.scoped("R12.1-1 R10.5-2 a session that did not negotiate human_input gets no human request: ask, choose and interrupt fail FAILED_PRECONDITION", () =>
    Effect.gen(function*() {
      const session = yield* open()
      assert.isFalse(session.capabilities.human_input === true)
      assert.isTrue((yield* open(human)).capabilities.human_input === true, "advertised, and negotiated when offered")
      for (
        const [tool, args] of [["ask", { prompt: "Which branch?" }], ["choose", {
          prompt: "?",
          options: ["a"]
        }]] as const
      ) {
        const job = yield* session.invoke(tool, args)
        const events = yield* collectUntil(job.events, (m) => Client.terminalTypes.has(m.type))
        assert.isFalse(events.some((m) => m.type.startsWith("human.")), `${tool} sent nothing to the human`)
        const error = yield* Effect.flip(job.outcome)
        assert.strictEqual(code(error), "FAILED_PRECONDITION")
        assert.include(error.message, "human_input")
      }
      const sleeping = yield* session.invoke("sleep", { ms: 60_000 })
      assert.strictEqual(code(yield* Effect.flip(sleeping.interrupt())), "FAILED_PRECONDITION")
    }).pipe(Effect.provide(server)))

  it.scoped("R12.1-1 R12.4-1 ask: response_schema requires a non-empty answer, expires_at is now + expires_in_ms, the default passes through; respond() settles on the runtime's verdict", () =>
    Effect.gen(function*() {
      const session = yield* open(human)
      const job = yield* session.invoke("ask", { prompt: "Ship it?", expires_in_ms: 5000, default: { answer: "no" } })
      const request = (yield* collectUntil(job.events, (m) => m.type === "human.input.request")).at(-1)
      if (request === undefined) return yield* Effect.dieMessage("no human.input.request")
      assert.strictEqual(field(request, "prompt"), "Ship it?")
      assert.strictEqual(toMillis(String(field(request, "expires_at"))), 5000)
      assert.deepStrictEqual(field(request, "default"), { answer: "no" })
      assert.deepStrictEqual(field(request, "response_schema"), {
        type: "object",
        properties: { answer: { type: "string", minLength: 1 } },
        required: ["answer"]
      })
      assert.strictEqual(yield* stateOf(job.jobId), "blocked")
      assert.strictEqual(code(yield* Effect.flip(session.respond(request.id, { answer: "" }))), "INVALID_ARGUMENT")
      yield* session.respond(request.id, { answer: "yes" }, "ntfy:phone")
      assert.deepStrictEqual(yield* job.outcome, { answer: "yes" })
      // a late answer is ignored by the runtime (first answer wins) without an ack: respond() still settles
      yield* session.respond(request.id, { answer: "too late" })
      const unknown = yield* Effect.flip(session.respond(MessageId.make("msg_unknown"), { answer: "?" }))
      assert.strictEqual(code(unknown), "NOT_FOUND")
    }).pipe(Effect.provide(server)))

  it.scoped("R12.4-3 ask: with no answer before expires_in_ms the default is the result", () =>
    Effect.gen(function*() {
      const session = yield* open(human)
      const job = yield* session.invoke("ask", {
        prompt: "Ship it?",
        expires_in_ms: 1000,
        default: { answer: "later" }
      })
      yield* collectUntil(job.events, (m) => m.type === "human.input.request")
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(yield* job.outcome, { answer: "later" })
    }).pipe(Effect.provide(server)))

  it.scoped("R12.1-1 choose: a human.choice.request with the option ids; the result is {choice_id}; an unknown id is refused", () =>
    Effect.gen(function*() {
      const session = yield* open(human)
      const job = yield* session.invoke("choose", { prompt: "How to proceed?", options: ["fix", "skip", "abort"] })
      const request = (yield* collectUntil(job.events, (m) => m.type === "human.choice.request")).at(-1)
      if (request === undefined) return yield* Effect.dieMessage("no human.choice.request")
      const options = field(request, "options")
      assert.deepStrictEqual(Array.isArray(options) ? options.map((o) => Reflect.get(Object(o), "id")) : [], [
        "fix",
        "skip",
        "abort"
      ])
      assert.isString(field(request, "expires_at"))
      assert.strictEqual(code(yield* Effect.flip(session.respondChoice(request.id, "retry"))), "INVALID_ARGUMENT")
      yield* session.respondChoice(request.id, "skip", "telegram:nick")
      assert.deepStrictEqual(yield* job.outcome, { choice_id: "skip" })
    }).pipe(Effect.provide(server)))

  it.scoped(
    "R10.5-1 R10.3-1 an interrupt blocks a sleeping job at once: human.input.request while the handler sleeps, heartbeats say blocked, the answer resumes it",
    () =>
      Effect.gen(function*() {
        const session = yield* open(human)
        const job = yield* session.invoke("sleep", { ms: 70_000 })
        yield* collectUntil(job.events, (m) => m.type === "job.started")
        yield* job.interrupt("Stop and ask first")
        const request = (yield* collectUntil(job.events, (m) => m.type === "human.input.request")).at(-1)
        if (request === undefined) return yield* Effect.dieMessage("no human.input.request")
        assert.strictEqual(field(request, "prompt"), "Stop and ask first")
        assert.strictEqual(yield* stateOf(job.jobId), "blocked")
        yield* TestClock.adjust("30 seconds")
        const beat = (yield* collectUntil(job.events, (m) => m.type === "job.heartbeat")).at(-1)
        assert.strictEqual(field(beat, "state"), "blocked")
        yield* session.respond(request.id, { guidance: "go on" })
        yield* TestClock.adjust("30 seconds")
        const after = (yield* collectUntil(job.events, (m) => m.type === "job.heartbeat")).at(-1)
        assert.strictEqual(field(after, "state"), "running")
        yield* TestClock.adjust("10 seconds")
        assert.deepStrictEqual(yield* job.outcome, { slept: 70_000 })
      }).pipe(Effect.provide(server)),
    20_000
  )
})
