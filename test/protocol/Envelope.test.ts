/** The envelope of §6.1.1: required fields, formats, priority, extensions, and the constructor. */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, TestClock } from "effect"
import { ARCP_VERSION, isOptional, make, priorityOf } from "../../src/protocol/Envelope.js"
import { MessageId } from "../../src/protocol/Ids.js"
import { decode, encode, messageTypes, requiredFields } from "../../src/protocol/Message.js"
import { samples } from "../fixtures/samples.js"

const valid = { arcp: "1.0", id: "msg_1", type: "ping", timestamp: "2026-05-07T21:30:00Z", payload: {} }

/** The paths of the issues decoding `value` reports. */
const pathsOf = (value: unknown): ReadonlyArray<string> => {
  const result = decode(value)
  return Either.isLeft(result) ? result.left.issues.map((i) => i.path) : []
}

const without = (key: string) => Object.fromEntries(Object.entries(valid).filter(([k]) => k !== key))

describe("envelope", () => {
  it("R6.1-1 R4.4-2 each required field is required: arcp, id, type, timestamp, payload", () => {
    assert.deepStrictEqual(pathsOf(without("arcp")), ["arcp"])
    assert.deepStrictEqual(pathsOf(without("id")), ["id"])
    assert.deepStrictEqual(pathsOf(without("timestamp")), ["timestamp"])
    assert.deepStrictEqual(pathsOf(without("payload")), ["payload"])
    assert.include(pathsOf(without("type")), "type")
    assert.deepStrictEqual(pathsOf(valid), [])
  })

  it("R6.1-1 the timestamp is RFC 3339, the version major.minor, the id non-empty", () => {
    assert.deepStrictEqual(pathsOf({ ...valid, timestamp: "yesterday" }), ["timestamp"])
    assert.deepStrictEqual(pathsOf({ ...valid, timestamp: "2026-05-07 21:30" }), ["timestamp"])
    assert.deepStrictEqual(pathsOf({ ...valid, timestamp: "2026-05-07T21:30:00.123+02:00" }), [])
    assert.deepStrictEqual(pathsOf({ ...valid, arcp: 1 }), ["arcp"])
    assert.deepStrictEqual(pathsOf({ ...valid, id: "" }), ["id"])
  })

  it("R6.5-1 priority is one of low, normal, high, critical and defaults to normal", () => {
    assert.deepStrictEqual(pathsOf({ ...valid, priority: "urgent" }), ["priority"])
    for (const p of ["low", "normal", "high", "critical"]) {
      assert.deepStrictEqual(pathsOf({ ...valid, priority: p }), [])
    }
    assert.strictEqual(priorityOf({}), "normal")
    assert.strictEqual(priorityOf({ priority: "high" }), "high")
  })

  it("R21.1-1 R21.1-3 extension keys are namespaced; extensions.optional is a boolean", () => {
    assert.deepStrictEqual(pathsOf({ ...valid, extensions: { foo: 1 } }), ["extensions.foo"])
    assert.deepStrictEqual(
      pathsOf({ ...valid, extensions: { "arcpx.acme.trace.v1": { a: 1 }, "com.acme.tenant.v2": "t" } }),
      []
    )
    assert.deepStrictEqual(pathsOf({ ...valid, extensions: { optional: "yes" } }), ["extensions.optional"])
    assert.isTrue(isOptional({ extensions: { optional: true } }))
    assert.isFalse(isOptional({}))
  })

  it("R6.1-1 the payload is a JSON object; optional header fields keep their types", () => {
    for (const payload of [[], "s", 5, true, null]) {
      assert.deepStrictEqual(pathsOf({ ...valid, payload }), ["payload"], JSON.stringify(payload))
    }
    assert.deepStrictEqual(pathsOf({ ...valid, type: "arcpx.acme.deploy.v1", payload: "s" }), ["payload"])
    assert.deepStrictEqual(pathsOf({ ...valid, session_id: 5 }), ["session_id"])
    assert.deepStrictEqual(pathsOf({ ...valid, correlation_id: "" }), ["correlation_id"])
  })

  it("R6.1-1 conditional fields (§6.1.1): job events carry job_id, stream events stream_id, subscription deliveries subscription_id", () => {
    for (const type of messageTypes) {
      const field = requiredFields[type]
      if (field === undefined) continue
      const message = { ...valid, type, payload: samples[type] }
      assert.deepStrictEqual(pathsOf(message), [field], `${type} without ${field}`)
      assert.deepStrictEqual(pathsOf({ ...message, [field]: "x_1" }), [], `${type} with ${field}`)
    }
    assert.sameMembers(Object.keys(requiredFields), [
      "job.started",
      "job.progress",
      "job.heartbeat",
      "job.checkpoint",
      "job.completed",
      "job.failed",
      "job.cancelled",
      "stream.open",
      "stream.chunk",
      "stream.close",
      "stream.error",
      "subscribe.event"
    ])
    // nothing malformed leaves either: encode checks the field too
    const unsent = encode({ ...valid, id: MessageId.make("msg_1"), type: "job.progress", payload: { percent: 1 } })
    assert.isTrue(Either.isLeft(unsent) && unsent.left.issues[0]?.path === "job_id")
    const missing = decode({ ...valid, type: "stream.chunk", payload: { data: "hi" } })
    assert.isTrue(
      Either.isLeft(missing) && missing.left.reason === "Envelope" &&
        /^stream\.chunk: stream_id: is missing/.test(missing.left.message)
    )
    // replies that name the job in their payload or correlation_id need no envelope job_id
    assert.deepStrictEqual(
      pathsOf({ ...valid, type: "job.accepted", payload: { job_id: "job_1", accepted_at: valid.timestamp } }),
      []
    )
    assert.deepStrictEqual(pathsOf({ ...valid, type: "tool.result", payload: { value: 1 } }), [])
  })

  it.effect("make fills arcp, a fresh id and the Clock's timestamp", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.parse("2026-05-09T13:00:00Z"))
      const a = yield* make("ping", {})
      const b = yield* make("ping", {}, { priority: "high" })
      assert.strictEqual(a.arcp, ARCP_VERSION)
      assert.strictEqual(a.timestamp, "2026-05-09T13:00:00.000Z")
      assert.notStrictEqual(a.id, b.id)
      assert.strictEqual(b.priority, "high")
      assert.isTrue(Either.isRight(decode(a)))
    }))
})
