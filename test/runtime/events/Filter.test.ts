import { assert, describe, it } from "@effect/vitest"
import { type Filterable, kindShown, make, matchesHeader } from "../../../src/runtime/events/Filter.js"

const progress = (over: Partial<Filterable> = {}): Filterable => ({
  type: "job.progress",
  session_id: "sess_a",
  job_id: "job_1",
  trace_id: "trace_1",
  ...over
})

describe("subscription filter (§13.2)", () => {
  it("R13.2-1 an empty filter matches everything", () => {
    assert.isTrue(matchesHeader({}, progress()))
    assert.isTrue(matchesHeader({}, { type: "log" }))
  })

  it("R13.2-1 fields are AND-ed, values within a field OR-ed", () => {
    const filter = { session_id: ["sess_a", "sess_b"], types: ["job.progress", "log"] }
    assert.isTrue(matchesHeader(filter, progress()))
    assert.isTrue(matchesHeader(filter, progress({ session_id: "sess_b", type: "log" })))
    assert.isFalse(matchesHeader(filter, progress({ session_id: "sess_c" })))
    assert.isFalse(matchesHeader(filter, progress({ type: "metric" })))
  })

  it("R13.2-1 a field the envelope lacks does not match a filter on it", () => {
    assert.isFalse(matchesHeader({ stream_id: ["str_1"] }, progress()))
    assert.isFalse(matchesHeader({ trace_id: ["trace_1"] }, progress({ trace_id: undefined })))
    assert.isTrue(matchesHeader({ job_id: ["job_1"], trace_id: ["trace_1"] }, progress()))
  })

  it("R13.2-1 min_priority keeps that rank and above; absent priority reads as normal", () => {
    assert.isTrue(matchesHeader({ min_priority: "normal" }, progress()))
    assert.isFalse(matchesHeader({ min_priority: "high" }, progress()))
    assert.isTrue(matchesHeader({ min_priority: "high" }, progress({ priority: "critical" })))
    assert.isFalse(matchesHeader({ min_priority: "normal" }, progress({ priority: "low" })))
    assert.isTrue(matchesHeader({ min_priority: "low" }, progress({ priority: "low" })))
  })

  it("R11.4-3 exclude_kinds leaves a thought stream out: its open, chunks and close", () => {
    const matcher = make({ exclude_kinds: ["thought"] })
    const open = { type: "stream.open", stream_id: "str_t", payload: { kind: "thought" } }
    const chunk = { type: "stream.chunk", stream_id: "str_t", payload: { sequence: 0, data: "x" } }
    const close = { type: "stream.close", stream_id: "str_t", payload: {} }
    const text = { type: "stream.open", stream_id: "str_x", payload: { kind: "text" } }
    const textChunk = { type: "stream.chunk", stream_id: "str_x", payload: { data: "hi" } }
    assert.isFalse(matcher.matches(open))
    assert.isFalse(matcher.matches(chunk))
    assert.isFalse(matcher.matches(close))
    assert.isTrue(matcher.matches(text))
    assert.isTrue(matcher.matches(textChunk))
    assert.isTrue(matcher.matches(progress()))
  })

  it("R11.4-3 a thought chunk of a stream opened before the subscription is still recognised", () => {
    const matcher = make({ exclude_kinds: ["thought"] })
    const chunk = {
      type: "stream.chunk",
      stream_id: "str_old",
      payload: { role: "assistant_thought", content: "", redacted: true }
    }
    assert.strictEqual(kindShown(chunk), "thought")
    assert.isFalse(matcher.matches(chunk))
    // and its close too, learned from the chunk
    assert.isFalse(matcher.matches({ type: "stream.close", stream_id: "str_old", payload: {} }))
    // or told by the live registry
    const told = make({ exclude_kinds: ["thought"] }, (id) => (id === "str_live" ? "thought" : undefined))
    assert.isFalse(told.matches({ type: "stream.close", stream_id: "str_live", payload: {} }))
  })

  it("R11.1-3 unknown stream kinds are treated as event", () => {
    const matcher = make({ exclude_kinds: ["event"] })
    assert.isFalse(matcher.matches({ type: "stream.open", stream_id: "s", payload: { kind: "hologram" } }))
  })
})
