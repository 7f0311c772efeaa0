/** Forms from a human.input.request's response_schema, and the answer a filled-in form stands for. */
import { assert, describe, it } from "@effect/vitest"
import { answerOf, formOf } from "../../src/dashboard/web/SchemaForm.js"

describe("schema forms", () => {
  it("an object schema gives one field per property, typed, with required ones marked and defaults filled", () => {
    const spec = formOf({
      type: "object",
      properties: {
        name: { type: "string", title: "Name" },
        age: { type: "integer" },
        ok: { type: "boolean" },
        colour: { type: "string", enum: ["red", "teal"] },
        extra: { type: "object" }
      },
      required: ["name"]
    }, { age: 7 })
    assert.isTrue(spec.object)
    assert.deepStrictEqual(spec.fields.map((f) => [f.name, f.kind, f.required]), [
      ["name", "text", true],
      ["age", "integer", false],
      ["ok", "boolean", false],
      ["colour", "choice", false],
      ["extra", "json", false]
    ])
    assert.strictEqual(spec.fields[0]?.label, "Name")
    assert.strictEqual(spec.fields[1]?.initial, "7")
    assert.deepStrictEqual(spec.fields[3]?.options, ["red", "teal"])
  })

  it("turns the filled-in fields into the answer, leaving out empty optional ones and naming what is wrong", () => {
    const spec = formOf({
      type: "object",
      properties: { answer: { type: "string" }, n: { type: "number" }, ok: { type: "boolean" }, j: {} },
      required: ["answer"]
    })
    assert.deepStrictEqual(answerOf(spec, { answer: "teal", n: "2.5", ok: "true", j: "[1]" }), {
      ok: true,
      value: { answer: "teal", n: 2.5, ok: true, j: [1] }
    })
    assert.deepStrictEqual(answerOf(spec, { answer: "teal", n: "", j: "" }), {
      ok: true,
      value: { answer: "teal", ok: false }
    })
    assert.deepStrictEqual(answerOf(spec, { answer: "x", n: "two" }), { ok: false, error: "n: enter a number" })
    assert.deepStrictEqual(answerOf(spec, { answer: "x", j: "{" }), { ok: false, error: "j: enter valid JSON" })
  })

  it("a scalar schema is one field whose value is the answer itself", () => {
    const spec = formOf({ type: "integer" }, 3)
    assert.isFalse(spec.object)
    assert.deepStrictEqual(answerOf(spec, {}), { ok: true, value: 3 })
    assert.deepStrictEqual(answerOf(spec, { "": "4.5" }), { ok: false, error: "Answer: enter a whole number" })
  })
})
