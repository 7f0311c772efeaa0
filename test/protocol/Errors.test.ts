/** The error model of §18: 21 canonical codes, the alias, namespaced codes, retryability, the wire payload. */
import { assert, describe, it } from "@effect/vitest"
import { Either, Schema } from "effect"
import {
  ArcpError,
  canonicalCodes,
  canonicalize,
  ErrorCode,
  ErrorPayload,
  isRetryable
} from "../../src/protocol/Errors.js"

describe("errors", () => {
  it("R18.2-1 there are exactly the 21 canonical codes of §18.2", () => {
    assert.strictEqual(canonicalCodes.length, 21)
    assert.includeMembers([...canonicalCodes], [
      "OK",
      "HEARTBEAT_LOST",
      "LEASE_EXPIRED",
      "LEASE_REVOKED",
      "BACKPRESSURE_OVERFLOW"
    ])
  })

  it("R18.2-1 R18.2-2 RATE_LIMITED is accepted as RESOURCE_EXHAUSTED; namespaced codes pass, unknown bare codes do not", () => {
    const decode = Schema.decodeUnknownEither(ErrorCode)
    assert.isTrue(Either.isRight(decode("RATE_LIMITED")))
    assert.strictEqual(canonicalize("RATE_LIMITED"), "RESOURCE_EXHAUSTED")
    assert.isTrue(Either.isRight(decode("arcpx.acme.QUOTA_EXCEEDED")))
    assert.isTrue(Either.isLeft(decode("QUOTA_EXCEEDED")))
  })

  it("R18.3-1 R18.2-3 the default retryable table of §18.3", () => {
    for (
      const code of ["RESOURCE_EXHAUSTED", "RATE_LIMITED", "UNAVAILABLE", "DEADLINE_EXCEEDED", "INTERNAL", "ABORTED"]
    ) assert.isTrue(isRetryable(code), code)
    for (
      const code of [
        "INVALID_ARGUMENT",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "FAILED_PRECONDITION",
        "UNIMPLEMENTED",
        "UNAUTHENTICATED",
        "DATA_LOSS"
      ]
    ) {
      assert.isFalse(isRetryable(code), code)
    }
    assert.isFalse(isRetryable("arcpx.acme.QUOTA_EXCEEDED"))
  })

  it("R18.1-1 ArcpError maps to the wire payload and back, with a chained cause and trace_id", () => {
    const error = ArcpError.of("UNAVAILABLE", "upstream down", {
      details: { retry_after_seconds: 30 },
      cause: { code: "DEADLINE_EXCEEDED", message: "socket timeout" }
    })
    const payload = error.toPayload()
    assert.deepStrictEqual(payload, {
      code: "UNAVAILABLE",
      message: "upstream down",
      retryable: true,
      details: { retry_after_seconds: 30 },
      cause: { code: "DEADLINE_EXCEEDED", message: "socket timeout" }
    })
    const back = ArcpError.fromPayload({ ...payload, trace_id: "trace_789" })
    assert.strictEqual(back.code, "UNAVAILABLE")
    assert.strictEqual(back.trace_id, "trace_789")
    assert.strictEqual(back.cause?.code, "DEADLINE_EXCEEDED")
    assert.isTrue(Either.isRight(Schema.decodeUnknownEither(ErrorPayload)(payload)))
    assert.isTrue(Either.isLeft(Schema.decodeUnknownEither(ErrorPayload)({ code: "INTERNAL" })))
    assert.isFalse(ArcpError.of("UNAVAILABLE", "m", { retryable: false }).isRetryable, "an explicit flag wins")
  })
})
