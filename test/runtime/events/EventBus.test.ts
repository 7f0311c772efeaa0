/**
 * The in-process bus: a subscriber that says which events concern it is handed only the batches holding one
 * of them (whole, in publish order), every `Unrecorded`, and nothing once its scope closed; a subscriber that
 * says nothing hears everything. The same contract on PostgreSQL is in test/store/PgEventBus.test.ts.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Queue, Scope } from "effect"
import { make as makeEnvelope } from "../../../src/protocol/Envelope.js"
import { SessionId } from "../../../src/protocol/Ids.js"
import { encodeUnchecked } from "../../../src/protocol/Message.js"
import { type BusMessage, make, type Published } from "../../../src/runtime/events/EventBus.js"

const event = (position: number, type: "job.progress" | "session.closed") =>
  Effect.map(
    makeEnvelope(type === "job.progress" ? "job.progress" : "session.closed", {}, {
      session_id: SessionId.make("sess_b")
    }),
    (envelope): Published => ({
      position,
      sessionId: "sess_b",
      principal: "alice",
      envelope,
      json: encodeUnchecked(envelope)
    })
  )

const committed = (...events: ReadonlyArray<Published>): BusMessage => ({ _tag: "Committed", events })
const positions = (messages: Iterable<BusMessage>) =>
  [...messages].map((m) => (m._tag === "Committed" ? m.events.map((e) => e.position) : m.sessionIds))

describe("EventBus", () => {
  it.scoped("a subscriber is handed only the batches that concern it, whole and in order; Unrecorded always", () =>
    Effect.gen(function*() {
      const bus = yield* make
      const progress = yield* bus.subscribe((e) => e.envelope.type === "job.progress")
      const everything = yield* bus.subscribe()
      const a = yield* event(1, "session.closed")
      const b = yield* event(2, "job.progress")
      const c = yield* event(3, "session.closed")
      yield* bus.publish(committed(a))
      // not woken: nothing was handed to it
      assert.strictEqual(yield* Queue.size(progress), 0)
      yield* bus.publish(committed(b, c))
      yield* bus.publish({ _tag: "Unrecorded", sessionIds: ["sess_b"], message: "disk full" })
      yield* bus.publish(committed(c))
      assert.deepStrictEqual(positions(yield* Queue.takeAll(progress)), [[2, 3], ["sess_b"]])
      assert.deepStrictEqual(positions(yield* Queue.takeAll(everything)), [[1], [2, 3], ["sess_b"], [3]])
    }))

  it.effect("a subscription ends with its scope: nothing more is handed to it and a take is interrupted", () =>
    Effect.gen(function*() {
      const bus = yield* make
      const scope = yield* Scope.make()
      const sub = yield* Scope.extend(bus.subscribe(), scope)
      yield* Scope.close(scope, Exit.void)
      yield* bus.publish(committed(yield* event(1, "job.progress")))
      assert.isTrue(yield* Queue.isShutdown(sub))
      assert.isTrue(Exit.isInterrupted(yield* Effect.exit(Queue.take(sub))))
    }))
})
