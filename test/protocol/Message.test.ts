/** The codec: every core type round-trips, RFC examples decode, extension and unknown types are told apart. */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, Schema } from "effect"
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { Capabilities } from "../../src/protocol/Capabilities.js"
import { make } from "../../src/protocol/Envelope.js"
import { ArtifactRef } from "../../src/protocol/messages/Artifacts.js"
import { decode, decodeJson, decodeWithUnion, encode, encodeUnchecked, isCore, messageTypes } from "../../src/protocol/Message.js"
import { samples } from "../fixtures/samples.js"

const header = { arcp: "1.0", id: "msg_01JTEST", timestamp: "2026-05-07T21:30:00Z" }

describe("message codec", () => {
  it("R4.4-1 R6.1-1 knows all 66 core message types of §6.2", () => {
    assert.strictEqual(messageTypes.length, 66)
    assert.deepStrictEqual([...messageTypes].sort(), Object.keys(samples).sort())
  })

  it.effect("R4.4-1 R4.4-2 every core type round-trips: decode(encode(m)) = m and the JSON is stable", () =>
    Effect.gen(function*() {
      for (const type of messageTypes) {
        const message = yield* make(type, samples[type], { trace_id: undefined })
        const text = Either.getOrThrow(encode(message))
        const decoded = decodeJson(text)
        assert.isTrue(Either.isRight(decoded), `${type}: ${Either.isLeft(decoded) ? decoded.left.message : ""}`)
        if (Either.isLeft(decoded)) continue
        assert.deepStrictEqual(decoded.right, JSON.parse(text), type)
        assert.strictEqual(Either.getOrThrow(encode(decoded.right)), text, type)
        assert.strictEqual(encodeUnchecked(decoded.right), text, type)
        assert.isTrue(isCore(decoded.right))
        assert.strictEqual(decoded.right.arcp, "1.0")
        // the slower single-union decoder agrees
        assert.isTrue(Either.isRight(decodeWithUnion(JSON.parse(text))), `${type} via the union`)
      }
    }))

  it("R4.4-1 every JSON example of the RFC decodes (arcp, id, timestamp filled where the example omits them)", () => {
    const dir = join(import.meta.dirname, "..", "fixtures", "rfc")
    const files = readdirSync(dir).filter((f) => f.endsWith(".json"))
    assert.isAtLeast(files.length, 27)
    for (const file of files) {
      const example: Record<string, unknown> = JSON.parse(readFileSync(join(dir, file), "utf8"))
      if (file.endsWith("-capabilities.json")) {
        assert.isTrue(Either.isRight(Schema.decodeUnknownEither(Capabilities)(example["capabilities"])), file)
        continue
      }
      if (file.endsWith("-artifact.ref.json") && example["type"] === undefined) {
        assert.isTrue(Either.isRight(Schema.decodeUnknownEither(ArtifactRef)(example)), file)
        continue
      }
      const result = decode({ ...header, ...example })
      assert.isTrue(Either.isRight(result), `${file}: ${Either.isLeft(result) ? result.left.message : ""}`)
    }
  })

  it("R6.2-1 R21.1-1 namespaced extension types decode as extension messages", () => {
    for (const type of ["arcpx.acme.deploy.v1", "com.acme.workflow.v2.step"]) {
      const result = decode({ ...header, type, payload: { anything: [1, 2] } })
      assert.isTrue(Either.isRight(result), type)
      if (Either.isRight(result)) assert.isFalse(isCore(result.right))
    }
  })

  it("R21.3-1 unknown core-prefixed and non-namespaced types are UnknownType errors carrying id and type", () => {
    for (const type of ["job.teleport", "frobnicate"]) {
      const result = decode({ ...header, type, payload: {} })
      assert.isTrue(Either.isLeft(result))
      if (Either.isLeft(result)) {
        assert.strictEqual(result.left.reason, "UnknownType")
        assert.strictEqual(result.left.id, header.id)
        assert.strictEqual(result.left.type, type)
      }
    }
  })

  it("malformed JSON is a Json error; a payload error names the type and the path", () => {
    const bad = decodeJson("{ not json")
    assert.isTrue(Either.isLeft(bad) && bad.left.reason === "Json")
    const range = decode({ ...header, type: "job.progress", payload: { percent: 140 } })
    assert.isTrue(Either.isLeft(range))
    if (Either.isLeft(range)) {
      assert.strictEqual(range.left.reason, "Payload")
      assert.strictEqual(range.left.issues[0]?.path, "payload.percent")
      assert.match(range.left.message, /^job\.progress: payload\.percent: /)
    }
  })
})
