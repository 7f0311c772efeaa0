/** The test harness itself: reads from a subscription lose nothing between calls. */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, PubSub, Stream } from "effect"
import { make as makeEnvelope } from "../../src/protocol/Envelope.js"
import type { Decoded } from "../../src/protocol/Message.js"
import { collectUntil } from "./Harness.js"

/** A subscription shaped like `Client.messages`: a stream over a PubSub queue, pulled a chunk at a time. */
const subscription = Effect.gen(function*() {
  const hub = yield* PubSub.unbounded<Decoded>()
  const messages = Stream.fromQueue(yield* PubSub.subscribe(hub))
  const publish = (...types: ReadonlyArray<"ping" | "pong">) =>
    Effect.forEach(types, (type) => Effect.flatMap(makeEnvelope(type, {}), (m) => PubSub.publish(hub, m)), {
      discard: true
    })
  return { hub, messages, publish }
})

describe("collectUntil", () => {
  it.scoped("a second read gets the messages the first one pulled past its match, in order", () =>
    Effect.gen(function*() {
      const { messages, publish } = yield* subscription
      // one burst: the first read pulls all of it in one chunk
      yield* publish("ping", "pong", "ping", "ping", "pong")
      const first = yield* collectUntil(messages, (m) => m.type === "pong")
      const second = yield* collectUntil(messages, (m) => m.type === "pong")
      assert.deepStrictEqual(first.map((m) => m.type), ["ping", "pong"])
      assert.deepStrictEqual(second.map((m) => m.type), ["ping", "ping", "pong"])
    }))

  it.scoped("a read waits for later messages, and returns what it has when the subscription ends", () =>
    Effect.gen(function*() {
      const { hub, messages, publish } = yield* subscription
      const reading = yield* Effect.fork(collectUntil(messages, (m) => m.type === "pong"))
      yield* publish("ping")
      yield* publish("pong", "ping")
      assert.deepStrictEqual((yield* Fiber.join(reading)).map((m) => m.type), ["ping", "pong"])
      const rest = yield* Effect.fork(collectUntil(messages, (m) => m.type === "pong"))
      yield* PubSub.shutdown(hub)
      assert.deepStrictEqual((yield* Fiber.join(rest)).map((m) => m.type), ["ping"])
    }))
})
