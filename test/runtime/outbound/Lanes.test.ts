import { assert, describe, it } from "@effect/vitest"
import { FAIRNESS_FLOOR, make } from "../../../src/runtime/outbound/Lanes.js"

const drain = <A>(lanes: ReturnType<typeof make<A>>) => {
  const out: Array<A> = []
  for (let v = lanes.pop(); v !== undefined; v = lanes.pop()) out.push(v)
  return out
}

describe("outbound priority lanes", () => {
  it("R6.5-2 higher priorities are served first across jobs", () => {
    const lanes = make<string>()
    lanes.push("low-a", "low", "job-a")
    lanes.push("normal-b", "normal", "job-b")
    lanes.push("critical-c", "critical", "job-c")
    lanes.push("high-d", "high", "job-d")
    assert.deepStrictEqual(drain(lanes), ["critical-c", "high-d", "normal-b", "low-a"])
  })

  it("R6.5-4 never reorders within one job or stream, whatever the priorities", () => {
    const lanes = make<string>()
    lanes.push("job1-progress", "normal", "job-1")
    lanes.push("job2-progress", "normal", "job-2")
    lanes.push("job1-terminal", "critical", "job-1")
    lanes.push("stream-chunk-1", "low", "str-1")
    lanes.push("stream-chunk-2", "critical", "str-1")
    const out = drain(lanes)
    assert.isBelow(out.indexOf("job1-progress"), out.indexOf("job1-terminal"))
    assert.isBelow(out.indexOf("stream-chunk-1"), out.indexOf("stream-chunk-2"))
  })

  it("a lane emptied and filled again keeps its order and its count (an emptied lane starts afresh)", () => {
    const lanes = make<string>()
    lanes.push("a1", "normal", "job-a")
    lanes.push("a2", "normal", "job-a")
    assert.deepStrictEqual(drain(lanes), ["a1", "a2"])
    assert.strictEqual(lanes.size(), 0)
    lanes.push("a3", "normal", "job-a")
    lanes.push("b1", "normal", "job-b")
    assert.strictEqual(lanes.pop(), "a3")
    // half-drained, then more: still in push order
    lanes.push("a4", "normal", "job-a")
    assert.deepStrictEqual(drain(lanes), ["b1", "a4"])
    assert.strictEqual(lanes.size(), 0)
  })

  it("R6.5-2 a fairness floor serves a waiting low lane after a run of higher ones", () => {
    const lanes = make<string>()
    lanes.push("low", "low", undefined)
    for (let i = 0; i < 3 * FAIRNESS_FLOOR; i++) lanes.push(`high-${i}`, "high", undefined)
    const out = drain(lanes)
    assert.strictEqual(out.indexOf("low"), FAIRNESS_FLOOR)
    assert.strictEqual(out.length, 3 * FAIRNESS_FLOOR + 1)
  })

  it("keeps FIFO order within a lane and counts its size", () => {
    const lanes = make<number>()
    for (let i = 0; i < 5000; i++) lanes.push(i, "normal", undefined)
    assert.strictEqual(lanes.size(), 5000)
    assert.deepStrictEqual(drain(lanes), Array.from({ length: 5000 }, (_, i) => i))
    assert.strictEqual(lanes.size(), 0)
  })
})
