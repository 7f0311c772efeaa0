/** Capability negotiation (§7): intersection, absent = false, required-but-unsupported reported. */
import { assert, describe, it } from "@effect/vitest"
import { negotiate } from "../../src/protocol/Capabilities.js"

describe("capability negotiation", () => {
  it("R4.4-3 R7-1 R7-2 booleans are the AND of both sides, and absent means false on either side", () => {
    const { capabilities } = negotiate(
      { streaming: true, durable_jobs: true, artifacts: true, interrupt: false },
      { streaming: true, durable_jobs: false, interrupt: true, subscriptions: true }
    )
    assert.strictEqual(capabilities.streaming, true)
    assert.strictEqual(capabilities.durable_jobs, false)
    assert.strictEqual(capabilities.artifacts, false, "absent on the runtime side")
    assert.strictEqual(capabilities.interrupt, false)
    assert.strictEqual(capabilities.subscriptions, false, "absent on the client side")
  })

  it("R10.3-1 R10.3-3 R11.3-6 the heartbeat interval is the smaller one (30 by default); recovery and encodings as the runtime says", () => {
    assert.strictEqual(negotiate({}, {}).capabilities.heartbeat_interval_seconds, 30)
    assert.strictEqual(
      negotiate({ heartbeat_interval_seconds: 10 }, { heartbeat_interval_seconds: 20 }).capabilities
        .heartbeat_interval_seconds,
      10
    )
    const { capabilities } = negotiate(
      { binary_encoding: ["base64", "sidecar"] },
      {
        heartbeat_recovery: "block",
        binary_encoding: ["base64"],
        artifact_retention: { default_seconds: 60, max_seconds: 3600 }
      }
    )
    assert.strictEqual(capabilities.heartbeat_recovery, "block")
    assert.deepStrictEqual(capabilities.binary_encoding, ["base64"])
    assert.deepStrictEqual(capabilities.artifact_retention, { default_seconds: 60, max_seconds: 3600 })
  })

  it("R21.2-1 extensions are the common subset", () => {
    const { capabilities } = negotiate(
      { extensions: ["arcpx.example.v1", "com.acme.workflow.v2"] },
      { extensions: ["com.acme.workflow.v2", "arcpx.other.v1"] }
    )
    assert.deepStrictEqual(capabilities.extensions, ["com.acme.workflow.v2"])
  })

  it("R7-3 required features and extensions that did not survive are reported", () => {
    const result = negotiate({ streaming: true, required: ["streaming", "arcpx.example.v1"] }, { streaming: false }, [
      "durable_jobs"
    ])
    assert.deepStrictEqual([...result.unsupported].sort(), ["arcpx.example.v1", "durable_jobs", "streaming"])
    assert.deepStrictEqual(negotiate({ streaming: true, required: ["streaming"] }, { streaming: true }).unsupported, [])
  })
})
