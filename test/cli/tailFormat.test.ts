/** `arcp tail`'s lines (one per event) and the filter its flags make. */
import { assert, describe, it } from "@effect/vitest"
import { Option } from "effect"
import { filterOf } from "../../src/cli/Tail.js"
import { line } from "../../src/cli/TailFormat.js"
import type { Decoded } from "../../src/protocol/Message.js"

const event = (type: string, payload: Record<string, unknown>, header: Partial<Decoded> = {}): Decoded =>
  ({
    arcp: "1.0",
    id: "msg_1",
    timestamp: "2026-11-29T12:00:01.250Z",
    type,
    payload,
    ...header
  }) as Decoded

describe("arcp tail", () => {
  it("prints one readable line per event: time, type, ids, the gist", () => {
    assert.strictEqual(
      line(event("job.progress", { current: 3, total: 10, percent: 30 }, { job_id: "job_1" } as Partial<Decoded>)),
      "12:00:01.250 job.progress job=job_1 3/10 30%"
    )
    assert.strictEqual(
      line(event("stream.chunk", { sequence: 2, role: "assistant_thought", content: "", redacted: true })),
      "12:00:01.250 stream.chunk #2 [redacted] \"\""
    )
    assert.strictEqual(
      line(event("tool.error", { code: "NOT_FOUND", message: "gone" })),
      "12:00:01.250 tool.error NOT_FOUND: gone"
    )
    const long = line(event("log", { level: "info", message: "x".repeat(500) }))
    assert.isAtMost(long.length, 200)
    assert.notInclude(line(event("log", { level: "warn", message: "a\nb" })), "\n")
  })

  it("turns its flags into a subscription filter: lists split on commas", () => {
    assert.deepStrictEqual(
      filterOf({
        session: [],
        job: ["job_1,job_2"],
        trace: [],
        types: ["job.progress", "log"],
        minPriority: Option.some("high"),
        noThoughts: true
      }),
      { job_id: ["job_1", "job_2"], types: ["job.progress", "log"], min_priority: "high", exclude_kinds: ["thought"] }
    )
    assert.deepStrictEqual(
      filterOf({ session: [], job: [], trace: [], types: [], minPriority: Option.none(), noThoughts: false }),
      {}
    )
  })
})
