/** Id generators: prefixed, unique, sortable by creation time, driven by the Effect Clock. */
import { assert, describe, it } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import { hasPrefix, makeJobId, makeMessageId, makeSessionId, makeStreamId, timeOf } from "../../src/protocol/Ids.js"

describe("ids", () => {
  it.effect("R6.1.1-1 ids carry their kind's prefix and are unique over 10,000 draws", () =>
    Effect.gen(function*() {
      assert.isTrue(hasPrefix(yield* makeSessionId, "session"))
      assert.isTrue(hasPrefix(yield* makeJobId, "job"))
      assert.isTrue(hasPrefix(yield* makeStreamId, "stream"))
      const ids = yield* Effect.replicateEffect(makeMessageId, 10_000)
      assert.strictEqual(new Set(ids).size, 10_000)
    }))

  it.effect("ids sort in creation order, within one millisecond and across them, and encode the Clock's time", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.parse("2026-05-09T13:00:00Z"))
      const sameMs = yield* Effect.replicateEffect(makeMessageId, 500)
      yield* TestClock.adjust("1 millis")
      const later = yield* makeMessageId
      const all = [...sameMs, later]
      assert.deepStrictEqual([...all].sort(), all)
      assert.strictEqual(timeOf(sameMs[0] ?? ""), Date.parse("2026-05-09T13:00:00Z"))
      assert.strictEqual(timeOf(later), Date.parse("2026-05-09T13:00:00.001Z"))
    }))
})
