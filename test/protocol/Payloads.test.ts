/**
 * Negative tests for every payload schema, from one table: type → bad payload → the path the
 * decoder must name. A test checks the table covers every core type, so a new type needs a row.
 */
import { assert, describe, it } from "@effect/vitest"
import { Either } from "effect"
import { decode, type MessageType, messageTypes } from "../../src/protocol/Message.js"
import { samples } from "../fixtures/samples.js"

/** A full header: the conditional fields are set, so only the payload can fail. */
const header = {
  arcp: "1.0",
  id: "msg_1",
  timestamp: "2026-05-07T21:30:00Z",
  job_id: "job_1",
  stream_id: "str_1",
  subscription_id: "sub_1"
}

/** A row: the type, a payload it must refuse, and the first path the error names. */
type Case = readonly [type: MessageType, payload: unknown, path: string]

/** The first issue path of decoding `type` with `payload`, or "ok". */
const firstPath = (type: string, payload: unknown): string => {
  const result = decode({ ...header, type, payload })
  return Either.isLeft(result) ? (result.left.issues[0]?.path ?? "?") : "ok"
}

/** Asserts every row is refused as a Payload error naming its path. */
const check = (cases: ReadonlyArray<Case>) => {
  for (const [type, payload, path] of cases) {
    const result = decode({ ...header, type, payload })
    const label = `${type} ${JSON.stringify(payload)}`
    assert.isTrue(Either.isLeft(result), `${label} was accepted`)
    if (Either.isLeft(result)) {
      assert.strictEqual(result.left.issues[0]?.path, path, label)
      assert.strictEqual(result.left.reason, "Payload", label)
    }
  }
}

const at = "2026-05-07T21:30:00Z"
const open = samples["session.open"]
const choice = samples["human.choice.request"]
const { expires_at: _expires, ...noExpiry } = samples["human.input.request"]
const job = { type: "tool.invoke", payload: {} }

const session: ReadonlyArray<Case> = [
  ["session.open", { ...open, auth: { scheme: "kerberos" } }, "payload.auth.scheme"],
  ["session.open", { ...open, client: { version: "1" } }, "payload.client.kind"],
  [
    "session.open",
    { ...open, auth: { scheme: "mtls" }, client: { kind: "cli", version: "1" } },
    "payload.client.fingerprint"
  ],
  ["session.open", { ...open, capabilities: { streaming: "yes" } }, "payload.capabilities.streaming"],
  ["session.challenge", { type: "jwt_nonce" }, "payload.challenge_id"],
  ["session.authenticate", { challenge_id: "chal_1" }, "payload.response"],
  [
    "session.accepted",
    { ...samples["session.accepted"], runtime: { kind: "arcp", version: "1", trust_level: "god" } },
    "payload.runtime.trust_level"
  ],
  [
    "session.accepted",
    { ...samples["session.accepted"], lease: { expires_at: "2026-13-01T00:00:00Z" } },
    "payload.lease.expires_at"
  ],
  ["session.unauthenticated", {}, "payload.reason"],
  ["session.rejected", { code: "NOPE", message: "m" }, "payload.code"],
  ["session.refresh", { reason: "lease", deadline_ms: -1 }, "payload.deadline_ms"],
  ["session.evicted", { reason: "" }, "payload.reason"],
  ["session.close", { dispose_jobs: "keep" }, "payload.dispose_jobs"]
]

const control: ReadonlyArray<Case> = [
  ["ping", "s", "payload"],
  ["pong", { ack_for: "msg_1" }, "payload.received_at"],
  ["ack", { ack_for: "msg_1", received_at: "2026-02-30T00:00:00Z" }, "payload.received_at"],
  ["nack", { message: "m" }, "payload.code"],
  ["cancel", { target: "workflow", target_id: "x" }, "payload.target"],
  ["cancel.accepted", { target: "job" }, "payload.target_id"],
  ["cancel.refused", { target: "job", target_id: "x", reason: "busy" }, "payload.reason"],
  ["interrupt", { target: "job", target_id: "" }, "payload.target_id"],
  ["resume", { include_open_streams: "yes" }, "payload.include_open_streams"],
  ["backpressure", { buffer_remaining_bytes: 1.5 }, "payload.buffer_remaining_bytes"],
  ["checkpoint.create", { checkpoint_id: "" }, "payload.checkpoint_id"],
  ["checkpoint.restore", {}, "payload.checkpoint_id"]
]

const execution: ReadonlyArray<Case> = [
  ["tool.invoke", { arguments: {} }, "payload.tool"],
  ["tool.invoke", { tool: "echo", arguments: [1] }, "payload.arguments"],
  ["tool.result", { value: 1, result_ref: samples["artifact.ref"] }, "payload"],
  ["tool.error", { code: "INTERNAL" }, "payload.message"],
  ["job.accepted", { job_id: "job_1" }, "payload.accepted_at"],
  ["job.started", { job_id: "job_1", started_at: "later" }, "payload.started_at"],
  ["job.progress", { percent: 101 }, "payload.percent"],
  ["job.heartbeat", { sequence: 1, deadline_ms: 1000, state: "sleeping" }, "payload.state"],
  ["job.heartbeat", { sequence: -1, deadline_ms: 1000, state: "running" }, "payload.sequence"],
  ["job.checkpoint", {}, "payload.checkpoint_id"],
  ["job.completed", { result: 1, result_ref: samples["artifact.ref"] }, "payload"],
  ["job.failed", { code: "INTERNAL", message: "m", cause: { code: "BAD", message: "inner" } }, "payload.cause.code"],
  ["job.cancelled", { source: "cosmic-ray" }, "payload.source"],
  ["job.schedule", { job, when: { at, after: 5 } }, "payload.when"],
  ["job.schedule", { job, when: {} }, "payload.when"],
  ["job.schedule", { job: { payload: {} }, when: { after: 5 } }, "payload.job.type"],
  ["job.schedule", { job, when: { every: "DAILY" } }, "payload.when.every"],
  ["job.schedule", { job, when: { after: -1 } }, "payload.when.after"],
  ["job.schedule", { job, when: { at: "2026-02-29T13:00:00Z" } }, "payload.when.at"],
  ["workflow.start", { inputs: {} }, "payload.workflow"],
  ["workflow.complete", 5, "payload"]
]

const agents: ReadonlyArray<Case> = [
  ["agent.delegate", { task: "x" }, "payload.target"],
  ["agent.handoff", { job_id: "job_1" }, "payload.to_runtime"],
  ["agent.handoff", { to_runtime: { version: "1" } }, "payload.to_runtime.kind"]
]

const streaming: ReadonlyArray<Case> = [
  ["stream.open", {}, "payload.kind"],
  ["stream.chunk", { sequence: "1" }, "payload.sequence"],
  ["stream.chunk", { redacted: "no" }, "payload.redacted"],
  ["stream.close", { total_chunks: -1 }, "payload.total_chunks"],
  ["stream.error", { code: "CANCELLED" }, "payload.message"]
]

const human: ReadonlyArray<Case> = [
  ["human.input.request", noExpiry, "payload.expires_at"],
  ["human.input.response", { responded_by: "x", responded_at: at }, "payload.value"],
  ["human.choice.request", { ...choice, default: "retry" }, "payload.default"],
  [
    "human.choice.request",
    { ...choice, options: [{ id: "a", label: "A" }, { id: "a", label: "B" }], default: "a" },
    "payload.options"
  ],
  ["human.choice.request", { ...choice, options: [] }, "payload.options[0]"],
  ["human.choice.response", { choice_id: "", responded_by: "x", responded_at: at }, "payload.choice_id"],
  ["human.input.cancelled", { code: "NOPE" }, "payload.code"]
]

const scope = { permission: "p", resource: "r", operation: "o" }
const permissions: ReadonlyArray<Case> = [
  ["permission.request", { resource: "r", operation: "o" }, "payload.permission"],
  ["permission.grant", { permission: "p", resource: "r" }, "payload.operation"],
  ["permission.deny", scope, "payload.reason"],
  ["lease.granted", { ...samples["lease.granted"], expires_at: "soon" }, "payload.expires_at"],
  ["lease.extended", { lease_id: "lease_1" }, "payload.expires_at"],
  ["lease.revoked", { lease_id: "lease_1" }, "payload.reason"],
  ["lease.refresh", { lease_id: "lease_1", requested_seconds: 0 }, "payload.requested_seconds"]
]

const subscriptions: ReadonlyArray<Case> = [
  ["subscribe", { filter: { session_id: "sess_1" } }, "payload.filter.session_id"],
  ["subscribe", { filter: { min_priority: "urgent" } }, "payload.filter.min_priority"],
  ["subscribe", {}, "payload.filter"],
  ["subscribe.accepted", {}, "payload.subscription_id"],
  ["subscribe.event", { event: { type: "job.progress" } }, "payload.event.arcp"],
  ["unsubscribe", { subscription_id: "" }, "payload.subscription_id"],
  ["subscribe.closed", { subscription_id: "sub_1" }, "payload.reason"]
]

const artifacts: ReadonlyArray<Case> = [
  ["artifact.put", { media_type: "text/plain", data: "not base64!" }, "payload.data"],
  ["artifact.put", { data: "aGk=" }, "payload.media_type"],
  ["artifact.fetch", {}, "payload.artifact_id"],
  ["artifact.ref", { ...samples["artifact.ref"], size: -1 }, "payload.size"],
  ["artifact.release", { artifact_id: 5 }, "payload.artifact_id"]
]

const telemetry: ReadonlyArray<Case> = [
  ["event.emit", { name: "" }, "payload.name"],
  ["log", { level: "verbose", message: "m" }, "payload.level"],
  ["metric", { name: "latency.ms", value: 3, unit: "s" }, "payload.unit"],
  ["metric", { name: "tokens.used", value: 3, unit: "tokens", dims: { kind: "thinking" } }, "payload.dims.kind"],
  ["metric", { name: "cache_hit_ratio", value: 0.5, unit: "ratio" }, "payload.name"],
  ["trace.span", { name: "x", span_id: "s", start_time: "later" }, "payload.start_time"]
]

const table = [
  ...session,
  ...control,
  ...execution,
  ...agents,
  ...streaming,
  ...human,
  ...permissions,
  ...subscriptions,
  ...artifacts,
  ...telemetry
]

describe("payload schemas reject bad payloads, naming the path", () => {
  it("R4.4-1 the table has a negative case for every core message type", () => {
    const covered = new Set(table.map(([type]) => type))
    assert.deepStrictEqual(messageTypes.filter((t) => !covered.has(t)), [], "types without a negative case")
  })

  it("R4.4-1 every type refuses a payload that is not a JSON object, naming the payload path", () => {
    for (const type of messageTypes) {
      for (const payload of ["s", 5, true, null, [], [1]]) {
        assert.strictEqual(firstPath(type, payload), "payload", `${type} ${JSON.stringify(payload)}`)
      }
    }
  })

  it("R4.4-1 R8.2-1 session: auth scheme, client kind, mtls needs a fingerprint, evicted reason, refresh deadline", () => {
    check(session)
    assert.strictEqual(
      firstPath("session.open", {
        ...open,
        auth: { scheme: "mtls" },
        client: { kind: "cli", version: "1", fingerprint: "sha256:x" }
      }),
      "ok"
    )
  })

  it("R10.4-8 control: cancel target, cancel.refused reason, pong fields, nack needs code and message", () =>
    check(control))

  it("R10.6-2 R10.3-1 execution: progress range, heartbeat state, schedule names exactly one of at/every/after, result xor ref", () => {
    check(execution)
    assert.strictEqual(firstPath("job.schedule", { job, when: { after: 60 } }), "ok")
  })

  it("R14-2 agents: a handoff must name the receiving runtime", () => {
    check(agents)
  })

  it("R10.6-2 R10.6-4 R10.6-5 job.schedule: when is exactly one of at (an RFC 3339 time), every (an RRULE), after (seconds)", () => {
    for (
      const when of [{ at: "2026-05-09T13:00:00Z" }, { every: "FREQ=DAILY;BYHOUR=6" }, {
        every: "RRULE:FREQ=WEEKLY;BYDAY=MO,WE;COUNT=4"
      }, { after: 30 }]
    ) {
      assert.strictEqual(firstPath("job.schedule", { job, when }), "ok", JSON.stringify(when))
    }
    for (const when of [{ at: "2026-05-09T13:00:00Z", every: "FREQ=DAILY" }, { every: "FREQ=DAILY", after: 5 }, {}]) {
      assert.strictEqual(firstPath("job.schedule", { job, when }), "payload.when", JSON.stringify(when))
    }
    for (
      const every of [
        "FREQ=FORTNIGHTLY",
        "BYHOUR=6",
        "FREQ=DAILY;FREQ=WEEKLY",
        "FREQ=DAILY;COUNT=2;UNTIL=20260601T000000Z",
        "FREQ=DAILY;COUNT=0",
        "FREQ=DAILY;COLOR=blue"
      ]
    ) {
      assert.strictEqual(firstPath("job.schedule", { job, when: { every } }), "payload.when.every", every)
    }
  })

  it("R11.1-1 streaming: stream.open declares a kind; chunk fields keep their types", () => check(streaming))

  it("R12.4-1 human: requests carry expires_at, responses a value, choices unique ids and a known default", () =>
    check(human))

  it("R15.1-1 permissions and leases: explicit permission, resource and operation; positive lease seconds", () =>
    check(permissions))

  it("R13.2-1 subscriptions: filter fields are arrays, min_priority a priority; subscribe.event wraps an envelope", () =>
    check(subscriptions))

  it("R16.3-1 artifacts: data is base64, size a non-negative integer", () => check(artifacts))

  it("R17.3.1-1 R17.3.1-2 telemetry: log levels, reserved metric units and dims, namespaced custom metrics", () => {
    check(telemetry)
    assert.strictEqual(firstPath("metric", { name: "arcpx.acme.cache_hit_ratio", value: 0.5, unit: "ratio" }), "ok")
  })

  it("R18.1-1 R18.2-2 errors: code and message required; codes canonical, the alias, or namespaced", () => {
    assert.strictEqual(firstPath("tool.error", { code: "INTERNAL" }), "payload.message")
    assert.strictEqual(firstPath("tool.error", { code: "OOPS", message: "m" }), "payload.code")
    assert.strictEqual(firstPath("tool.error", { code: "RATE_LIMITED", message: "m" }), "ok")
    assert.strictEqual(firstPath("tool.error", { code: "arcpx.acme.QUOTA_EXCEEDED", message: "m" }), "ok")
    assert.strictEqual(
      firstPath("job.failed", { code: "INTERNAL", message: "m", cause: { code: "BAD", message: "inner" } }),
      "payload.cause.code"
    )
  })

  it("R18.1-1 a bad error code is reported in one readable line", () => {
    const result = decode({ ...header, type: "tool.error", payload: { code: "NOPE", message: "m" } })
    assert.isTrue(Either.isLeft(result))
    if (Either.isLeft(result)) {
      assert.deepStrictEqual(result.left.issues, [{
        path: "payload.code",
        message:
          "Expected a canonical error code (OK, CANCELLED, UNKNOWN, INVALID_ARGUMENT, ...) or a namespaced code (arcpx.<vendor>.<NAME>), actual \"NOPE\""
      }])
    }
    const numeric = decode({ ...header, type: "human.input.cancelled", payload: { code: 3 } })
    assert.isTrue(Either.isLeft(numeric) && numeric.left.issues.length === 1 && !numeric.left.message.includes("\n"))
    assert.match(
      Either.isLeft(numeric) ? numeric.left.message : "",
      /^human\.input\.cancelled: payload\.code: Expected a canonical error code .* actual 3$/
    )
  })
})
