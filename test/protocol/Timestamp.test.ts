/** RFC 3339 timestamps (§6.1.1 `timestamp`): real calendar dates and in-range times only. */
import { assert, describe, it } from "@effect/vitest"
import { Either, Schema } from "effect"
import { decode } from "../../src/protocol/Message.js"
import { isTimestamp, Timestamp, toMillis } from "../../src/protocol/Timestamp.js"

describe("timestamps", () => {
  it("R6.1-1 impossible dates and out-of-range times are refused", () => {
    for (
      const bad of [
        "2026-02-30T00:00:00Z", // February has no 30th (Date.parse rolls it to March 2)
        "2026-02-29T00:00:00Z", // 2026 is not a leap year
        "2100-02-29T00:00:00Z", // a century not divisible by 400 is not a leap year
        "2026-04-31T00:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-00-10T00:00:00Z",
        "2026-05-00T00:00:00Z",
        "2026-05-07T24:00:00Z",
        "2026-05-07T23:60:00Z",
        "2026-05-07T23:59:61Z",
        "2026-05-07T21:30:00+24:00",
        "2026-05-07T21:30:00+05:60",
        "2026-05-07T21:30:00",
        "2026-05-07T21:30Z"
      ]
    ) assert.isFalse(isTimestamp(bad), bad)
  })

  it("R6.1-1 leap days, a leap second, fractions, offsets and lower-case t/z are accepted", () => {
    for (
      const good of [
        "2024-02-29T00:00:00Z",
        "2000-02-29T12:00:00Z",
        "2016-12-31T23:59:60Z",
        "2026-12-31T23:59:59.123456789+14:00",
        "2026-05-07t21:30:00z",
        "0050-01-01T00:00:00-00:00"
      ]
    ) assert.isTrue(isTimestamp(good), good)
    assert.isTrue(Either.isLeft(Schema.decodeUnknownEither(Timestamp)("2026-02-30T00:00:00Z")))
  })

  it("R6.1-1 an envelope with an impossible timestamp is refused, naming `timestamp`", () => {
    const result = decode({ arcp: "1.0", id: "msg_1", type: "ping", timestamp: "2026-02-30T00:00:00Z", payload: {} })
    assert.isTrue(Either.isLeft(result))
    if (Either.isLeft(result)) assert.deepStrictEqual(result.left.issues.map((i) => i.path), ["timestamp"])
  })

  it("toMillis reads offsets and fractions, years below 100, and a leap second as the next minute", () => {
    assert.strictEqual(toMillis("2026-05-07T21:30:00Z"), Date.parse("2026-05-07T21:30:00Z"))
    assert.strictEqual(toMillis("2026-05-07T23:30:00.25+02:00"), Date.parse("2026-05-07T21:30:00.250Z"))
    assert.strictEqual(toMillis("2026-05-07T19:00:00-02:30"), Date.parse("2026-05-07T21:30:00Z"))
    assert.strictEqual(toMillis("0050-01-01T00:00:00Z"), Date.parse("0050-01-01T00:00:00Z"))
    assert.strictEqual(toMillis("2016-12-31T23:59:60Z"), Date.parse("2017-01-01T00:00:00Z"))
    assert.isNaN(toMillis("2026-02-30T00:00:00Z"))
  })
})
