/** `--bearer TOKEN=PRINCIPAL[:TRUST]`: a trailing trust level is split off the principal (§15.3). */
import { assert, describe, it } from "@effect/vitest"
import { splitTrust } from "../../../src/cli/serve/ServeOptions.js"

describe("arcp serve --bearer", () => {
  it("R4.6-1 a trailing :level naming a trust level is the principal's trust; any other colon stays in the name", () => {
    assert.deepStrictEqual(splitTrust("alice"), ["alice", undefined])
    assert.deepStrictEqual(splitTrust("alice:privileged"), ["alice", "privileged"])
    assert.deepStrictEqual(splitTrust("user:alice:untrusted"), ["user:alice", "untrusted"])
    assert.deepStrictEqual(splitTrust("user:alice"), ["user:alice", undefined])
    assert.deepStrictEqual(splitTrust(":trusted"), [":trusted", undefined])
  })
})
