/** The client's pending-request registry (session/Requests) on its own, over a memory pair, timers on TestClock. */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Stream, TestClock } from "effect"
import { ClientError } from "../../src/client/ClientApi.js"
import * as Requests from "../../src/client/session/Requests.js"
import { SessionState } from "../../src/client/session/State.js"
import { make as makeEnvelope } from "../../src/protocol/Envelope.js"
import * as Memory from "../../src/transport/Memory.js"

const setUp = Effect.gen(function*() {
  const [client, server] = yield* Memory.makePair()
  const state = yield* SessionState.make(client)
  const requests = Requests.make(state, Duration.seconds(5))
  yield* Effect.forkScoped(requests.sweeper)
  // the peer reads what is sent and answers nothing: the tests settle requests by hand
  yield* Effect.forkScoped(Stream.runDrain(server.incoming))
  return { requests }
})

describe("client Requests", () => {
  it.scoped("an answer settles only the request it correlates to; an unknown correlation is ignored", () =>
    Effect.gen(function*() {
      const { requests } = yield* setUp
      const first = yield* makeEnvelope("ping", {})
      const second = yield* makeEnvelope("ping", {})
      const a = yield* Effect.fork(requests.sendAndAwait(first))
      const b = yield* Effect.fork(requests.sendAndAwait(second))
      yield* Effect.yieldNow()
      const pong = yield* makeEnvelope("pong", {}, { correlation_id: second.id })
      requests.settle(pong, "msg_nobody")
      requests.settle(pong, second.id)
      assert.strictEqual((yield* Fiber.join(b)).id, pong.id)
      assert.isTrue((yield* Fiber.poll(a))._tag === "None")
      // a second answer to the same request finds no waiter
      assert.isUndefined(requests.take(second.id))
      yield* Fiber.interrupt(a)
    }))

  it.scoped("failAll fails every waiting request with the session's end, and leaves none registered", () =>
    Effect.gen(function*() {
      const { requests } = yield* setUp
      const envelopes = yield* Effect.all([makeEnvelope("ping", {}), makeEnvelope("ping", {})])
      const waits = yield* Effect.forEach(envelopes, (e) => Effect.fork(requests.sendAndAwait(e)))
      yield* Effect.yieldNow()
      const end = new ClientError({ reason: "Closed", message: "the connection closed" })
      yield* requests.failAll(end)
      for (const wait of waits) {
        const exit = yield* Fiber.await(wait)
        assert.deepStrictEqual(exit, Exit.fail(end))
      }
      for (const e of envelopes) assert.isUndefined(requests.take(e.id))
    }))

  it.scoped("exchange: the answer's deadline starts once the upload is done, then the sweeper fails it", () =>
    Effect.gen(function*() {
      const { requests } = yield* setUp
      const put = yield* makeEnvelope("ping", {})
      const reply = yield* Effect.fork(Effect.flip(requests.exchange(put, Effect.sleep("20 seconds"))))
      // 20 s of upload: four times the timeout, and the request still waits
      yield* TestClock.adjust("20 seconds")
      assert.isTrue((yield* Fiber.poll(reply))._tag === "None")
      yield* TestClock.adjust("4 seconds")
      assert.isTrue((yield* Fiber.poll(reply))._tag === "None")
      yield* TestClock.adjust("2 seconds")
      const error = yield* Fiber.join(reply)
      assert.strictEqual(error._tag === "ClientError" ? error.reason : error._tag, "Timeout")
    }))
})
