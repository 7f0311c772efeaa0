/**
 * The codec's fast path (issue 12) held to the Schema decode of the whole envelope: whatever the fast
 * path accepts, the Schema decode accepts with the very same value (keys in the same order), and
 * whatever the Schema decode refuses, `decode` refuses with the Schema decode's error. Properties over
 * every core type with headers and payloads spoilt field by field.
 */
import { assert, describe, it } from "@effect/vitest"
import { Either } from "effect"
import fc from "fast-check"
import { headerFields } from "../../src/protocol/Envelope.js"
import { checkedFields, readHeader } from "../../src/protocol/HeaderCheck.js"
import { decode, decodeFast, decodeJson, decodeWithSchema, messageTypes } from "../../src/protocol/Message.js"
import { samples } from "../fixtures/samples.js"

/** A header as a runtime sends it, every conditional field set. */
const header = {
  arcp: "1.0",
  id: "msg_01KB0S9ZQ3W3V4XJ5E6Y7Z8A9B",
  timestamp: "2026-11-30T02:31:07.123Z",
  session_id: "sess_1",
  job_id: "job_1",
  stream_id: "str_1",
  subscription_id: "sub_1",
  trace_id: "0af7651916cd43dd8448eb211c80319c",
  span_id: "b7ad6b7169203331",
  correlation_id: "msg_2"
}

/** Holds `decode` to `decodeWithSchema` on `u`, and the fast path's value, when it has one, to both. */
const agree = (u: unknown, label = JSON.stringify(u)?.slice(0, 300) ?? String(u)) => {
  const fast = decodeFast(u)
  const full = decodeWithSchema(u)
  const both = decode(u)
  if (fast !== undefined) {
    assert.isTrue(Either.isRight(full), `fast path accepted what the Schema decode refuses: ${label}`)
    if (Either.isRight(full)) {
      assert.deepStrictEqual(fast, full.right, label)
      assert.deepStrictEqual(Object.keys(fast), Object.keys(full.right), `key order: ${label}`)
    }
  }
  assert.strictEqual(both._tag, full._tag, label)
  if (Either.isRight(both) && Either.isRight(full)) assert.deepStrictEqual(both.right, full.right, label)
  if (Either.isLeft(both) && Either.isLeft(full)) {
    assert.deepStrictEqual(
      [both.left.reason, both.left.id, both.left.type, both.left.issues],
      [full.left.reason, full.left.id, full.left.type, full.left.issues],
      label
    )
  }
}

/** Values that pass some header fields' rules and break others'. */
const edgeValues: ReadonlyArray<unknown> = [
  "",
  "x",
  "1.0",
  "2.13",
  "1",
  "v1.0",
  "1.0 ",
  "x".repeat(256),
  "x".repeat(257),
  "x".repeat(512),
  "x".repeat(513),
  "low",
  "normal",
  "high",
  "critical",
  "urgent",
  "Low",
  "2026-11-30T02:31:07Z",
  "2026-02-30T00:00:00Z",
  "2024-02-29T23:59:60.5+01:00",
  "2026-11-30 02:31:07Z",
  "2026-11-30T24:00:00Z",
  "arcpx.acme.thing.v1",
  "msg_\u00e9\u{1F600}",
  0,
  1,
  -1,
  1.5,
  true,
  false,
  null,
  undefined,
  [],
  {},
  ["x"],
  { a: 1 },
  { optional: true },
  { optional: "yes" },
  { "arcpx.acme.trace.v1": { a: 1 } },
  { bad: 1 },
  { "x-debug": 1 }
]
const fieldValue = fc.oneof(
  { arbitrary: fc.constantFrom(...edgeValues), weight: 4 },
  { arbitrary: fc.string({ maxLength: 40 }), weight: 1 }
)

const fieldNames = [...checkedFields, "type", "payload", "unknown_field", "__proto__"]

/** Sets a field as JSON.parse does (an own field, even `__proto__`). */
const set = (target: Record<string, unknown>, key: string, value: unknown) =>
  Object.defineProperty(target, key, { value, enumerable: true, configurable: true, writable: true })

/** A spoilt envelope: a core type's sample, then some fields set to other values or removed. */
const envelope = fc.record({
  type: fc.oneof(
    fc.constantFrom(...messageTypes),
    fc.constantFrom("arcpx.acme.deploy.v1", "job.unknown", "nope", "")
  ),
  changes: fc.array(
    fc.record({ field: fc.constantFrom(...fieldNames), value: fieldValue, remove: fc.boolean() }),
    { maxLength: 4 }
  ),
  payloadChanges: fc.array(
    fc.record({ key: fc.oneof(fc.nat(), fc.string({ maxLength: 12 })), value: fieldValue, remove: fc.boolean() }),
    { maxLength: 2 }
  ),
  dropConditional: fc.boolean()
}).map(({ changes, dropConditional, payloadChanges, type }) => {
  const sample: unknown = Reflect.get(samples, type) ?? {}
  const payload: Record<string, unknown> = typeof sample === "object" && sample !== null ? { ...sample } : {}
  // a payload's own fields spoilt too: the fast path decodes them with the same schema, so they must agree
  // (a number picks one of the sample's own fields)
  for (const { key, remove, value } of payloadChanges) {
    const keys = Object.keys(payload)
    const name = typeof key === "number" ? (keys[key % Math.max(1, keys.length)] ?? "") : key
    if (remove) delete payload[name]
    else set(payload, name, value)
  }
  const u: Record<string, unknown> = { ...header, type, payload }
  if (dropConditional) {
    delete u["job_id"]
    delete u["stream_id"]
    delete u["subscription_id"]
  }
  for (const { field, remove, value } of changes) {
    if (remove) delete u[field]
    else set(u, field, value)
  }
  return u
})

describe("HeaderCheck", () => {
  it("checks every field of the envelope header, in the schema's order", () => {
    assert.deepStrictEqual([...checkedFields], Object.keys(headerFields))
  })

  it("R6.1-1 takes the fast path for every core type as a runtime sends it, with the Schema decode's value", () => {
    for (const type of messageTypes) {
      const u = JSON.parse(JSON.stringify({ ...header, extra: 1, type, payload: samples[type] }))
      assert.isDefined(decodeFast(u), `${type} fell back to the Schema decode`)
      agree(u, type)
    }
  })

  it("leaves to the Schema decode what it does not check (extensions, a present undefined, no payload)", () => {
    const ping = { ...header, type: "ping", payload: {} }
    assert.isUndefined(decodeFast({ ...ping, extensions: { optional: true } }))
    assert.isUndefined(decodeFast({ ...ping, source: undefined }))
    assert.isUndefined(decodeFast({ ...header, type: "ping" }))
    assert.isUndefined(decodeFast({ ...header, type: "arcpx.acme.deploy.v1", payload: {} }))
    assert.isUndefined(decodeFast([ping]))
    assert.isUndefined(decodeFast(Object.assign(Object.create({ job_id: "job_1" }), ping, { type: "job.started" })))
    for (const u of [{ ...ping, extensions: { optional: true } }, { ...ping, source: undefined }]) agree(u)
  })

  it("reads an optional field only when it is the envelope's own, as the Schema decode does", () => {
    const inherited = Object.assign(Object.create({ session_id: 5, job_id: "job_1" }), {
      ...header,
      job_id: undefined,
      type: "ping",
      payload: {}
    })
    delete inherited.job_id
    const read = readHeader(inherited)
    assert.isDefined(read)
    assert.isFalse(Object.prototype.hasOwnProperty.call(read, "job_id"))
  })

  it("agrees with the Schema decode on every header field set to every edge value, one at a time", () => {
    for (const type of ["ping", "job.started", "tool.result", "metric"] as const) {
      for (const field of fieldNames) {
        for (const value of edgeValues) {
          const u: Record<string, unknown> = { ...header, type, payload: samples[type] }
          set(u, field, value)
          agree(u, `${type} ${field}=${JSON.stringify(value)?.slice(0, 40)}`)
        }
      }
    }
  })

  it.prop("decode agrees with the Schema decode on spoilt envelopes of every type", [envelope], ([u]) => {
    agree(u)
    // and through the text, as frames arrive (JSON drops undefined fields)
    const text = JSON.stringify(u)
    const fromText = decodeJson(text)
    const parsed: unknown = JSON.parse(text)
    const full = decodeWithSchema(parsed)
    assert.strictEqual(fromText._tag, full._tag, text)
    if (Either.isRight(fromText) && Either.isRight(full)) assert.deepStrictEqual(fromText.right, full.right, text)
  }, { fastCheck: { numRuns: 3000 } })
})
