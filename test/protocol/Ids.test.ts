/** Id generators: prefixed, unique, sortable by creation time, driven by the Effect Clock. */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Random, TestClock } from "effect"
import {
  hasPrefix,
  makeArtifactId,
  makeChallengeId,
  makeCheckpointId,
  makeJobId,
  makeLeaseId,
  makeMessageId,
  makeSessionId,
  makeStreamId,
  makeSubscriptionId,
  timeOf
} from "../../src/protocol/Ids.js"

/** The ids that name a session or grant access: they must be unguessable. */
const secure = {
  session: makeSessionId,
  challenge: makeChallengeId,
  job: makeJobId,
  lease: makeLeaseId,
  artifact: makeArtifactId,
  stream: makeStreamId,
  subscription: makeSubscriptionId,
  checkpoint: makeCheckpointId
}
const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/
const randomPart = (id: string) => id.slice(-16)

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

  it.effect("R6.1.1-1 session, challenge, job, lease (and other resource) ids come from node:crypto, not the seeded Random", () =>
    Effect.gen(function*() {
      // the same seed at two instants: message ids repeat their random part (the seed drives them) ...
      const draw = Effect.suspend(() =>
        Effect.all({ message: makeMessageId, ...secure }).pipe(Effect.withRandom(Random.make("fixed")))
      )
      yield* TestClock.adjust("1 millis")
      const first = yield* draw
      yield* TestClock.adjust("1 millis")
      const second = yield* draw
      assert.strictEqual(randomPart(first.message), randomPart(second.message))
      // ... the secure ones do not, and keep the ULID shape
      for (const kind of Object.keys(secure) as Array<keyof typeof secure>) {
        assert.notStrictEqual(randomPart(first[kind]), randomPart(second[kind]), kind)
        assert.match(first[kind].slice(first[kind].indexOf("_") + 1), ULID, kind)
        assert.isTrue(hasPrefix(first[kind], kind), kind)
        assert.strictEqual(
          timeOf(second[kind]),
          timeOf(first[kind]) === undefined ? -1 : (timeOf(first[kind]) ?? 0) + 1
        )
      }
    }))

  it.effect("R6.1.1-1 secure ids minted in one millisecond are fresh draws, not an increment of the previous one", () =>
    Effect.gen(function*() {
      const ids = yield* Effect.replicateEffect(makeSessionId, 1000)
      assert.strictEqual(new Set(ids.map(randomPart)).size, 1000)
      // a monotonic generator would mint them in sorted order; 1000 fresh draws are sorted with odds 1/1000!
      assert.notDeepEqual([...ids].sort(), ids)
      // and no id is the previous one plus one in its last digit
      const successors = ids.slice(1).filter((id, i) =>
        randomPart(id).slice(0, 15) === randomPart(ids[i] ?? "").slice(0, 15)
      )
      assert.isAtMost(successors.length, 2)
    }))
})
