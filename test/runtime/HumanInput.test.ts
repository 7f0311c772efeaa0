/** The HumanInput service on its own: settled request ids are remembered within a bound (issue 7). */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { make as makeEnvelope } from "../../src/protocol/Envelope.js"
import { makeMessageId, type MessageId } from "../../src/protocol/Ids.js"
import * as HumanInput from "../../src/runtime/HumanInput.js"
import * as RuntimeConfig from "../../src/runtime/RuntimeConfig.js"

const answer = (requestId: MessageId) =>
  makeEnvelope("human.input.response", {
    value: { ok: true },
    responded_by: "test",
    responded_at: "2026-05-09T13:00:00Z"
  }, { correlation_id: requestId })

describe("HumanInput", () => {
  it.scoped("R12.3-1 a late answer to one of the last settled requests is ignored; older ones are forgotten (NOT_FOUND)", () =>
    Effect.gen(function*() {
      const service = yield* HumanInput.makeWith({ remembered: 2 })
      const ids: Array<MessageId> = []
      for (let i = 0; i < 3; i++) {
        let id: MessageId | undefined
        const asked = yield* Effect.fork(service.ask({
          emit: () => Effect.tap(makeMessageId, (minted) => Effect.sync(() => (id = minted))),
          principal: "alice",
          prompt: "ok?",
          responseSchema: { type: "object" },
          expiresInSeconds: 60
        }))
        while (id === undefined) yield* Effect.yieldNow()
        ids.push(id)
        yield* service.respond(yield* answer(id), "alice")
        assert.deepStrictEqual((yield* Fiber.join(asked)).value, { ok: true })
      }
      const [oldest, middle, newest] = ids
      if (oldest === undefined || middle === undefined || newest === undefined) return assert.fail("three requests")
      // the two newest are remembered: their late answers are ignored quietly
      yield* service.respond(yield* answer(newest), "alice")
      yield* service.respond(yield* answer(middle), "alice")
      // the oldest fell out of the bound, and another principal never learns of any of them
      const forgotten = yield* Effect.flip(service.respond(yield* answer(oldest), "alice"))
      assert.strictEqual(forgotten.code, "NOT_FOUND")
      const stranger = yield* Effect.flip(service.respond(yield* answer(newest), "bob"))
      assert.strictEqual(stranger.code, "NOT_FOUND")
    }).pipe(Effect.provide(RuntimeConfig.layer())))
})
