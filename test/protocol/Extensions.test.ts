/** Extension naming (§21.1) and unknown-type handling (§21.3). */
import { assert, describe, it } from "@effect/vitest"
import { Either } from "effect"
import {
  classifyUnknownType,
  isExtensionName,
  isExtensionType,
  isNamespaced,
  validateExtensionName,
  validateFieldName
} from "../../src/protocol/Extensions.js"

describe("extensions", () => {
  it("R4.7-1 R21.1-1 R21.1-3 arcpx.<vendor>.<name>.v<n> and reverse-DNS names are namespaced; core-prefixed names are not", () => {
    assert.isTrue(isExtensionName("arcpx.acme.deploy.v1"))
    assert.isTrue(isExtensionName("arcpx.example.v1"))
    assert.isTrue(isExtensionName("com.acme.workflow.v2"))
    assert.isFalse(isExtensionName("com.acme.workflow"), "no version")
    assert.isFalse(isNamespaced("tool.custom.thing"), "core prefix is not reverse DNS")
    assert.isFalse(isNamespaced("acme"))
    assert.isTrue(isExtensionType("arcpx.acme.deploy.v1.started"))
    assert.isTrue(isNamespaced("arcpx.acme.cache_hit_ratio"))
  })

  it("R21.1-2 the bare x- prefix is refused unless experiments are allowed", () => {
    assert.isTrue(Either.isLeft(validateFieldName("x-debug")))
    assert.isTrue(Either.isRight(validateFieldName("x-debug", { allowExperimental: true })))
    assert.isTrue(Either.isLeft(validateExtensionName("x-thing")))
    assert.isTrue(Either.isRight(validateFieldName("optional")))
    assert.isTrue(Either.isLeft(validateFieldName("tenant")))
  })

  it("R4.7-2 R21.3-1 R21.3-2 R21.2-2 the unknown-type rules of §21.3", () => {
    const none = { advertised: [], optional: false }
    assert.deepInclude(classifyUnknownType("job.teleport", none), { _tag: "Nack", code: "UNIMPLEMENTED" })
    assert.deepInclude(classifyUnknownType("arcpx.acme.deploy.v1", none), { _tag: "Nack", code: "UNIMPLEMENTED" })
    assert.deepStrictEqual(classifyUnknownType("arcpx.acme.deploy.v1", { advertised: [], optional: true }), {
      _tag: "Drop"
    })
    assert.deepStrictEqual(
      classifyUnknownType("arcpx.acme.deploy.v1.started", { advertised: ["arcpx.acme.deploy.v1"], optional: false }),
      { _tag: "Route" }
    )
    assert.deepInclude(classifyUnknownType("frobnicate", none), { _tag: "Nack", code: "INVALID_ARGUMENT" })
  })
})
