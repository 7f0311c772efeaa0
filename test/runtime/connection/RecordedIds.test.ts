/**
 * The ids a connection remembers as its own (connection/RecordedIds): at least the last `window` of them,
 * whether the envelope comes back as the same object (live, from the bus) or decoded afresh (a backfill),
 * and never an unbounded number.
 */
import { assert, describe, it } from "@effect/vitest"
import * as RecordedIds from "../../../src/runtime/connection/RecordedIds.js"

const id = (n: number) => ({ id: `msg_${String(n).padStart(8, "0")}` })

describe("RecordedIds", () => {
  it("knows its own envelopes by id, the same object or a copy, and nobody else's", () => {
    const ids = RecordedIds.make(4096)
    const sent = ids.remember(id(1))
    assert.isTrue(ids.recordedHere(sent))
    assert.isTrue(ids.recordedHere({ ...sent }))
    assert.isFalse(ids.recordedHere(id(2)))
  })

  it("keeps at least the last `window` ids, and forgets older ones", () => {
    const window = 5000
    const ids = RecordedIds.make(window)
    for (let n = 0; n < 30_000; n++) ids.remember(id(n))
    for (let n = 30_000 - window; n < 30_000; n++) assert.isTrue(ids.recordedHere(id(n)), `id ${n}`)
    assert.isFalse(ids.recordedHere(id(0)))
    assert.isFalse(ids.recordedHere(id(30_000 - 2 * window - 1)))
  })

  it("a small or unbounded window is held to sane bounds", () => {
    const small = RecordedIds.make(10)
    for (let n = 0; n < 1500; n++) small.remember(id(n))
    // never fewer than 1024
    for (let n = 1500 - 1024; n < 1500; n++) assert.isTrue(small.recordedHere(id(n)))
    const unbounded = RecordedIds.make(Number.POSITIVE_INFINITY)
    for (let n = 0; n < 140_000; n++) unbounded.remember(id(n))
    // at most two generations of 65,536
    assert.isFalse(unbounded.recordedHere(id(0)))
    assert.isTrue(unbounded.recordedHere(id(139_999)))
  })
})
