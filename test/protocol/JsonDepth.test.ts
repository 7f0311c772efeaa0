/** JSON nesting measured on the text (issue 7): brackets in strings do not count, escapes are honoured. */
import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import { exceedsDepth } from "../../src/protocol/JsonDepth.js"

/** The nesting depth of a parsed value, by recursion (the values here are shallow). */
const depthOf = (value: unknown): number =>
  typeof value !== "object" || value === null
    ? 0
    : 1 + Math.max(0, ...(Array.isArray(value) ? value : Object.values(value)).map(depthOf))

describe("exceedsDepth", () => {
  it("counts arrays and objects, not brackets inside strings, escaped quotes or backslash runs", () => {
    assert.isFalse(exceedsDepth("[[1]]", 2))
    assert.isTrue(exceedsDepth("[[1]]", 1))
    assert.isFalse(exceedsDepth(`{"a":"[[[[{{{{"}`, 1))
    assert.isFalse(exceedsDepth(`{"a":"\\"[[[["}`, 1), "an escaped quote does not end the string")
    assert.isTrue(exceedsDepth(`{"a":"\\\\",  "b":[[]]}`, 2), "an escaped backslash does not escape the quote")
    assert.isFalse(exceedsDepth(`{"a":"\\\\\\"[[["}`, 1))
    assert.isFalse(exceedsDepth(`"[[[[`, 1), "an unterminated string hides nothing deeper")
    assert.isTrue(exceedsDepth("[".repeat(100_000), 64), "malformed text is measured as far as it goes")
    assert.isFalse(exceedsDepth("", 0))
  })

  it.prop("agrees with the depth of the parsed value, for any JSON", [
    fc.jsonValue({ maxDepth: 8 }),
    fc.integer({ min: 0, max: 10 })
  ], ([value, limit]) => {
    assert.strictEqual(exceedsDepth(JSON.stringify(value), limit), depthOf(value) > limit)
  })
})
