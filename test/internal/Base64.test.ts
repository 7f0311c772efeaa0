import { assert, describe, it } from "@effect/vitest"
import { Either, Encoding } from "effect"
import fc from "fast-check"
import * as Base64 from "../../src/internal/Base64.js"

/** Text that is base64 or nearly: the alphabet, padding, line breaks and a few strangers, in any order. */
const nearlyBase64 = fc.string({
  unit: fc.constantFrom(..."ABCXYZabcxyz0189+/=\n\r-_ .*é".split("")),
  maxLength: 40
})

describe("Base64", () => {
  it.prop("encodes as Effect's Encoding does, and decodes back", [fc.uint8Array({ maxLength: 300 })], ([bytes]) => {
    const text = Base64.encode(bytes)
    assert.strictEqual(text, Encoding.encodeBase64(bytes))
    assert.deepStrictEqual(Either.getOrThrow(Base64.decode(text)), bytes)
  })

  it.prop("accepts and refuses exactly what Effect's decoder does, with the same bytes", [nearlyBase64], ([text]) => {
    const ours = Base64.decode(text)
    const effect = Encoding.decodeBase64(text)
    assert.strictEqual(Either.isRight(ours), Either.isRight(effect), JSON.stringify(text))
    if (Either.isRight(ours) && Either.isRight(effect)) assert.deepStrictEqual(ours.right, effect.right)
  })

  it.prop("agrees with Effect's decoder on valid text with one character put in anywhere", [
    fc.uint8Array({ maxLength: 60 }),
    fc.nat(),
    fc.constantFrom(..."A/+=\n\r-_ .é".split(""))
  ], ([bytes, at, stranger]) => {
    const valid = Base64.encode(bytes)
    const position = at % (valid.length + 1)
    const text = valid.slice(0, position) + stranger + valid.slice(position)
    const ours = Base64.decode(text)
    const effect = Encoding.decodeBase64(text)
    assert.strictEqual(Either.isRight(ours), Either.isRight(effect), JSON.stringify(text))
    if (Either.isRight(ours) && Either.isRight(effect)) assert.deepStrictEqual(ours.right, effect.right)
  })

  it("reads a subarray's own bytes, not its buffer's", () => {
    const whole = new Uint8Array([1, 2, 3, 4, 5, 6])
    assert.strictEqual(Base64.encode(whole.subarray(2, 5)), Encoding.encodeBase64(new Uint8Array([3, 4, 5])))
  })
})
