/** The client retries what is retryable when asked (§18.3): `invoke(..., { retry })`. */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Ref } from "effect"
import { ArcpError } from "../../src/protocol/Errors.js"
import * as Tools from "../../src/runtime/Tools.js"
import { EventLog } from "../../src/store/EventLog.js"
import { memory, open, serverLayer } from "../support/Harness.js"

/** A tool with no retry policy of its own, down for its first `down` calls. */
const makeFlakyUpstream = (down: number, code: "UNAVAILABLE" | "INVALID_ARGUMENT" = "UNAVAILABLE") =>
  Effect.map(Ref.make(0), (calls) => ({
    calls,
    tool: Tools.make({
      name: "upstream",
      parameters: Tools.AnyArguments,
      handler: () =>
        Effect.flatMap(
          Ref.updateAndGet(calls, (n) => n + 1),
          (n) => n <= down ? Effect.fail(ArcpError.of(code, `down (call ${n})`)) : Effect.succeed({ calls: n })
        )
    })
  }))

describe("client retries", () => {
  it.scopedLive("R10.1-1 R6.4-4 a job ending with a retryable error is invoked again under a key of its own; the outcome is the last attempt's", () =>
    Effect.gen(function*() {
      const upstream = yield* makeFlakyUpstream(2)
      yield* Effect.gen(function*() {
        const session = yield* open()
        const job = yield* session.invoke("upstream", {}, {
          idempotency_key: "order-4812",
          retry: { attempts: 4, backoff: "10 millis" }
        })
        assert.deepStrictEqual(yield* job.outcome, { calls: 3 })
        assert.strictEqual(yield* Ref.get(upstream.calls), 3)
        // the first attempt holds the caller's key; the retries hold derived ones
        const log = yield* EventLog
        const first = yield* log.getJob(job.jobId)
        assert.strictEqual(first._tag === "Some" ? first.value.idempotency_key : undefined, "order-4812")
        // asking again with the same key runs nothing: the intent is not executed twice
        const again = yield* session.invoke("upstream", {}, { idempotency_key: "order-4812" })
        assert.strictEqual(again.jobId, job.jobId)
        assert.strictEqual(yield* Ref.get(upstream.calls), 3)
      }).pipe(Effect.provide(serverLayer({ transport: memory, tools: [upstream.tool] })))
    }))

  it.scopedLive("R10.1-1 client retries: attempts are bounded, and a code that is not retryable is not retried", () =>
    Effect.gen(function*() {
      const always = yield* makeFlakyUpstream(100)
      yield* Effect.gen(function*() {
        const session = yield* open()
        const job = yield* session.invoke("upstream", {}, { retry: { attempts: 3, backoff: "5 millis" } })
        const error = yield* Effect.flip(job.outcome)
        assert.strictEqual(error._tag === "ArcpError" ? error.code : error._tag, "UNAVAILABLE")
        assert.strictEqual(yield* Ref.get(always.calls), 3)
      }).pipe(Effect.provide(serverLayer({ transport: memory, tools: [always.tool] })))
      const invalid = yield* makeFlakyUpstream(100, "INVALID_ARGUMENT")
      yield* Effect.gen(function*() {
        const session = yield* open()
        const job = yield* session.invoke("upstream", {}, { retry: { attempts: 3, backoff: "5 millis" } })
        yield* Effect.flip(job.outcome)
        assert.strictEqual(yield* Ref.get(invalid.calls), 1)
      }).pipe(Effect.provide(serverLayer({ transport: memory, tools: [invalid.tool] })))
    }))
})
