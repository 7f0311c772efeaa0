/** The codec: every core type round-trips, RFC examples decode, extension and unknown types are told apart. */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, Schema } from "effect"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { join, resolve } from "node:path"
import { isDeepStrictEqual } from "node:util"
import { Capabilities } from "../../src/protocol/Capabilities.js"
import { make } from "../../src/protocol/Envelope.js"
import {
  decode,
  decodeJson,
  decodeWithUnion,
  encode,
  encodeUnchecked,
  isCore,
  isMessageType,
  messageTypes,
  requiredFields
} from "../../src/protocol/Message.js"
import { ArtifactRef } from "../../src/protocol/messages/Artifacts.js"
import { samples } from "../fixtures/samples.js"

const header = { arcp: "1.0", id: "msg_01JTEST", timestamp: "2026-05-07T21:30:00Z" }

/** The RFC (authority) lives beside the clone in ../shared on our machines: checks against it skip, with the reason, without it. */
const rfcPath = process.env["ARCP_RFC"] ??
  resolve(import.meta.dirname, "..", "..", "..", "shared", "spec", "RFC-0001-v2.md")
const hasRfc = existsSync(rfcPath)
if (!hasRfc) {
  console.warn(
    `skipping the checks against the RFC's examples: ${rfcPath} is absent (it sits beside the clone on our machines)`
  )
}

/** Every ```json block of the RFC, parsed, with the number of the section it sits in. */
const rfcExamples = (): ReadonlyArray<{ readonly section: string; readonly example: Record<string, unknown> }> => {
  const out: Array<{ section: string; example: Record<string, unknown> }> = []
  let section = ""
  let block: Array<string> | undefined
  for (const line of readFileSync(rfcPath, "utf8").split("\n")) {
    const heading = /^#{2,4} ([0-9]+(?:\.[0-9]+)*)\.? /.exec(line)
    if (heading !== null) section = heading[1] ?? ""
    else if (block === undefined && line.trim() === "```json") block = []
    else if (block !== undefined && line.trim() === "```") {
      const example: Record<string, unknown> = JSON.parse(block.join("\n"))
      out.push({ section, example })
      block = undefined
    } else block?.push(line)
  }
  return out
}

/** Decodes one RFC example: a fragment, so the header fields it leaves out are filled in. */
const assertExampleDecodes = (section: string, example: Record<string, unknown>) => {
  const where = `§${section} ${String(example["type"] ?? Object.keys(example)[0])}`
  if (example["capabilities"] !== undefined && example["type"] === undefined) {
    assert.isTrue(Either.isRight(Schema.decodeUnknownEither(Capabilities)(example["capabilities"])), where)
    return
  }
  if (example["type"] === undefined) {
    // §16.1 shows a bare artifact reference, the value that stands in for a payload field
    assert.isTrue(Either.isRight(Schema.decodeUnknownEither(ArtifactRef)(example)), where)
    return
  }
  const type = String(example["type"])
  const field = isMessageType(type) ? requiredFields[type] : undefined
  const result = decode({ ...header, ...(field !== undefined ? { [field]: "x_1" } : {}), ...example })
  assert.isTrue(Either.isRight(result), `${where}: ${Either.isLeft(result) ? result.left.message : ""}`)
}

/** The copies of the RFC's examples kept in the repository (checked against the RFC when it is present). */
const fixtureDir = join(import.meta.dirname, "..", "fixtures", "rfc")
const rfcFixtures = () =>
  readdirSync(fixtureDir).filter((f) => f.endsWith(".json")).map((file) => {
    const value: Record<string, unknown> = JSON.parse(readFileSync(join(fixtureDir, file), "utf8"))
    return { file, section: file.split("-")[0] ?? "", value }
  })

describe("message codec", () => {
  it("R4.4-1 R6.1-1 knows all 66 core message types of §6.2", () => {
    assert.strictEqual(messageTypes.length, 66)
    assert.deepStrictEqual([...messageTypes].sort(), Object.keys(samples).sort())
  })

  it.effect("R4.4-1 R4.4-2 every core type round-trips: decode(encode(m)) = m and the JSON is stable", () =>
    Effect.gen(function*() {
      for (const type of messageTypes) {
        const field = requiredFields[type]
        const message = yield* make(type, samples[type], {
          trace_id: undefined,
          ...(field === undefined ? {} : { [field]: "x_1" })
        })
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

  it.skipIf(!hasRfc)(
    "R4.4-1 every JSON example of the RFC decodes (arcp, id, timestamp and the conditional field filled where the fragment omits them)",
    () => {
      const examples = rfcExamples()
      assert.strictEqual(examples.length, 27, "the RFC's ```json blocks")
      for (const { section, example } of examples) assertExampleDecodes(section, example)
    }
  )

  it("R4.4-1 every RFC example kept in test/fixtures/rfc decodes (runs on a bare clone too)", () => {
    const fixtures = rfcFixtures()
    assert.strictEqual(fixtures.length, 27)
    for (const { section, value } of fixtures) assertExampleDecodes(section, value)
  })

  it.skipIf(!hasRfc)("R4.4-1 test/fixtures/rfc holds exactly the RFC's JSON examples, unchanged", () => {
    const dir = join(import.meta.dirname, "..", "fixtures", "rfc")
    const fixtures = readdirSync(dir).filter((f) => f.endsWith(".json"))
      .map((file) => {
        const value: unknown = JSON.parse(readFileSync(join(dir, file), "utf8"))
        return { file, value }
      })
    const examples = rfcExamples()
    const unmatched = examples.filter((e) => !fixtures.some((f) => isDeepStrictEqual(f.value, e.example)))
      .map((e) => `§${e.section} ${JSON.stringify(e.example).slice(0, 60)}`)
    assert.deepStrictEqual(unmatched, [], "RFC examples with no identical fixture (the RFC changed?)")
    const stale = fixtures.filter((f) => !examples.some((e) => isDeepStrictEqual(f.value, e.example))).map((f) =>
      f.file
    )
    assert.deepStrictEqual(stale, [], "fixtures that are no longer an RFC example")
  })

  it("R6.2-1 R21.1-1 R21.1-3 namespaced extension types decode as extension messages", () => {
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
