/** Negative tests for each payload group: the decoder names the failing path. */
import { assert, describe, it } from "@effect/vitest"
import { Either } from "effect"
import { decode } from "../../src/protocol/Message.js"
import { samples } from "../fixtures/samples.js"

const header = { arcp: "1.0", id: "msg_1", timestamp: "2026-05-07T21:30:00Z" }

/** The first issue path of decoding `type` with `payload`, or "ok". */
const firstPath = (type: string, payload: unknown): string => {
  const result = decode({ ...header, type, payload })
  return Either.isLeft(result) ? (result.left.issues[0]?.path ?? "?") : "ok"
}

describe("payload schemas reject bad payloads, naming the path", () => {
  it("R4.4-1 R8.2-1 session: auth scheme, client kind, mtls needs a fingerprint, evicted reason, refresh deadline", () => {
    const open = samples["session.open"]
    assert.strictEqual(firstPath("session.open", { ...open, auth: { scheme: "kerberos" } }), "payload.auth.scheme")
    assert.strictEqual(firstPath("session.open", { ...open, client: { version: "1" } }), "payload.client.kind")
    assert.strictEqual(firstPath("session.open", { ...open, auth: { scheme: "mtls" }, client: { kind: "cli", version: "1" } }), "payload.client.fingerprint")
    assert.strictEqual(firstPath("session.open", { ...open, auth: { scheme: "mtls" }, client: { kind: "cli", version: "1", fingerprint: "sha256:x" } }), "ok")
    assert.strictEqual(firstPath("session.evicted", { reason: "" }), "payload.reason")
    assert.strictEqual(firstPath("session.refresh", { reason: "lease", deadline_ms: -1 }), "payload.deadline_ms")
    assert.strictEqual(firstPath("session.accepted", { ...samples["session.accepted"], runtime: { kind: "arcp", version: "1", trust_level: "god" } }), "payload.runtime.trust_level")
    assert.strictEqual(firstPath("session.authenticate", { challenge_id: "chal_1" }), "payload.response")
  })

  it("R10.4-2 control: cancel target, cancel.refused reason, pong fields, nack needs code and message", () => {
    assert.strictEqual(firstPath("cancel", { target: "workflow", target_id: "x" }), "payload.target")
    assert.strictEqual(firstPath("cancel.refused", { target: "job", target_id: "x", reason: "busy" }), "payload.reason")
    assert.strictEqual(firstPath("pong", { ack_for: "msg_1" }), "payload.received_at")
    assert.strictEqual(firstPath("nack", { message: "m" }), "payload.code")
    assert.strictEqual(firstPath("backpressure", { buffer_remaining_bytes: 1.5 }), "payload.buffer_remaining_bytes")
  })

  it("R10.6-2 R10.3-1 execution: progress range, heartbeat state, schedule names exactly one of at/every/after, result xor ref", () => {
    assert.strictEqual(firstPath("job.progress", { percent: 101 }), "payload.percent")
    assert.strictEqual(firstPath("job.heartbeat", { sequence: 1, deadline_ms: 1000, state: "sleeping" }), "payload.state")
    assert.strictEqual(firstPath("job.heartbeat", { sequence: -1, deadline_ms: 1000, state: "running" }), "payload.sequence")
    const job = { type: "tool.invoke", payload: {} }
    assert.strictEqual(firstPath("job.schedule", { job, when: { at: "2026-05-09T13:00:00Z", after: 5 } }), "payload.when")
    assert.strictEqual(firstPath("job.schedule", { job, when: {} }), "payload.when")
    assert.strictEqual(firstPath("job.schedule", { job, when: { after: 60 } }), "ok")
    assert.strictEqual(firstPath("tool.result", { value: 1, result_ref: samples["artifact.ref"] }), "payload")
    assert.strictEqual(firstPath("tool.invoke", { arguments: {} }), "payload.tool")
    assert.strictEqual(firstPath("job.cancelled", { source: "cosmic-ray" }), "payload.source")
  })

  it("R14-2 agents: a handoff must name the receiving runtime", () => {
    assert.strictEqual(firstPath("agent.handoff", { job_id: "job_1" }), "payload.to_runtime")
    assert.strictEqual(firstPath("agent.delegate", { task: "x" }), "payload.target")
  })

  it("R11.1-1 streaming: stream.open declares a kind; chunk fields keep their types", () => {
    assert.strictEqual(firstPath("stream.open", {}), "payload.kind")
    assert.strictEqual(firstPath("stream.chunk", { sequence: "1" }), "payload.sequence")
    assert.strictEqual(firstPath("stream.chunk", { redacted: "no" }), "payload.redacted")
  })

  it("R12.4-1 human: requests carry expires_at, responses a value, choices unique ids and a known default", () => {
    const { expires_at: _expires, ...noExpiry } = samples["human.input.request"]
    assert.strictEqual(firstPath("human.input.request", noExpiry), "payload.expires_at")
    assert.strictEqual(firstPath("human.input.response", { responded_by: "x", responded_at: "2026-05-07T21:30:00Z" }), "payload.value")
    const choice = samples["human.choice.request"]
    assert.strictEqual(firstPath("human.choice.request", { ...choice, default: "retry" }), "payload.default")
    assert.strictEqual(firstPath("human.choice.request", { ...choice, options: [{ id: "a", label: "A" }, { id: "a", label: "B" }], default: "a" }), "payload.options")
    assert.match(firstPath("human.choice.request", { ...choice, options: [] }), /^payload\.options/)
  })

  it("R15.1-1 permissions and leases: explicit permission, resource and operation; positive lease seconds", () => {
    assert.strictEqual(firstPath("permission.request", { resource: "r", operation: "o" }), "payload.permission")
    assert.strictEqual(firstPath("lease.refresh", { lease_id: "lease_1", requested_seconds: 0 }), "payload.requested_seconds")
    assert.strictEqual(firstPath("lease.granted", { ...samples["lease.granted"], expires_at: "soon" }), "payload.expires_at")
  })

  it("R13.2-1 subscriptions: filter fields are arrays, min_priority a priority; subscribe.event wraps an envelope", () => {
    assert.strictEqual(firstPath("subscribe", { filter: { session_id: "sess_1" } }), "payload.filter.session_id")
    assert.strictEqual(firstPath("subscribe", { filter: { min_priority: "urgent" } }), "payload.filter.min_priority")
    assert.strictEqual(firstPath("subscribe.event", { event: { type: "job.progress" } }), "payload.event.arcp")
  })

  it("R16.3-1 artifacts: data is base64, size a non-negative integer", () => {
    assert.strictEqual(firstPath("artifact.put", { media_type: "text/plain", data: "not base64!" }), "payload.data")
    assert.strictEqual(firstPath("artifact.ref", { ...samples["artifact.ref"], size: -1 }), "payload.size")
  })

  it("R17.3.1-1 R17.3.1-2 telemetry: log levels, reserved metric units and dims, namespaced custom metrics", () => {
    assert.strictEqual(firstPath("log", { level: "verbose", message: "m" }), "payload.level")
    assert.strictEqual(firstPath("metric", { name: "latency.ms", value: 3, unit: "s" }), "payload.unit")
    assert.strictEqual(firstPath("metric", { name: "tokens.used", value: 3, unit: "tokens", dims: { kind: "thinking" } }), "payload.dims.kind")
    assert.strictEqual(firstPath("metric", { name: "cache_hit_ratio", value: 0.5, unit: "ratio" }), "payload.name")
    assert.strictEqual(firstPath("metric", { name: "arcpx.acme.cache_hit_ratio", value: 0.5, unit: "ratio" }), "ok")
    assert.strictEqual(firstPath("trace.span", { name: "x", span_id: "s", start_time: "later" }), "payload.start_time")
  })

  it("R18.1-1 R18.2-2 errors: code and message required; codes canonical, the alias, or namespaced", () => {
    assert.strictEqual(firstPath("tool.error", { code: "INTERNAL" }), "payload.message")
    assert.strictEqual(firstPath("tool.error", { code: "OOPS", message: "m" }), "payload.code")
    assert.strictEqual(firstPath("tool.error", { code: "arcpx.acme.QUOTA_EXCEEDED", message: "m" }), "ok")
    assert.strictEqual(firstPath("job.failed", { code: "INTERNAL", message: "m", cause: { code: "BAD", message: "inner" } }), "payload.cause.code")
  })
})
