/**
 * The error model (RFC §18): canonical codes, default retryability, the wire
 * error payload, and `ArcpError`, the one error that crosses the wire.
 */
import { Schema } from "effect"
import { isNamespaced } from "./Extensions.js"

/** The 21 canonical codes of §18.2. */
export const canonicalCodes = [
  "OK",
  "CANCELLED",
  "UNKNOWN",
  "INVALID_ARGUMENT",
  "DEADLINE_EXCEEDED",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION",
  "ABORTED",
  "OUT_OF_RANGE",
  "UNIMPLEMENTED",
  "INTERNAL",
  "UNAVAILABLE",
  "DATA_LOSS",
  "UNAUTHENTICATED",
  "HEARTBEAT_LOST",
  "LEASE_EXPIRED",
  "LEASE_REVOKED",
  "BACKPRESSURE_OVERFLOW"
] as const

/** One of the canonical codes. */
export const CanonicalCode = Schema.Literal(...canonicalCodes)
export type CanonicalCode = typeof CanonicalCode.Type

/** `RATE_LIMITED` is the §18.2 alias of `RESOURCE_EXHAUSTED`. */
export const aliases = { RATE_LIMITED: "RESOURCE_EXHAUSTED" } as const satisfies Record<string, CanonicalCode>

/** A deployment-specific code; §18.2 requires it to be namespaced (`arcpx.acme.QUOTA_EXCEEDED`). */
export const NamespacedCode = Schema.String.pipe(
  Schema.filter((s) => isNamespaced(s) || "Expected a canonical code or a namespaced code", {
    identifier: "NamespacedCode"
  })
)

/**
 * A code as it may appear on the wire: canonical, the alias, or namespaced.
 * Kept verbatim (no rewriting), so relayed errors stay byte-identical; use
 * `canonicalize` to interpret it.
 */
export const ErrorCode = Schema.Union(CanonicalCode, Schema.Literal("RATE_LIMITED"), NamespacedCode).annotations({
  identifier: "ErrorCode",
  // one line instead of one "Expected ..." per alternative; `override` replaces the union's inner messages
  message: (issue) => ({
    message: `Expected a canonical error code (${canonicalCodes.slice(0, 4).join(", ")}, ...) or a namespaced code ` +
      `(arcpx.<vendor>.<NAME>), actual ${JSON.stringify(issue.actual)}`,
    override: true
  })
})
export type ErrorCode = typeof ErrorCode.Type

const canonicalSet: ReadonlySet<string> = new Set(canonicalCodes)

/** True for one of the 21 canonical codes. */
export const isCanonical = (code: string): code is CanonicalCode => canonicalSet.has(code)

/** Maps the alias to its canonical code; other codes are returned unchanged. */
export const canonicalize = (code: string): string => (code === "RATE_LIMITED" ? aliases.RATE_LIMITED : code)

/** The §18.3 default retryability of each canonical code (`OK` and `UNKNOWN` default to false). */
export const retryableByDefault: Readonly<Record<CanonicalCode, boolean>> = {
  OK: false,
  CANCELLED: false,
  UNKNOWN: false,
  INVALID_ARGUMENT: false,
  DEADLINE_EXCEEDED: true,
  NOT_FOUND: false,
  ALREADY_EXISTS: false,
  PERMISSION_DENIED: false,
  RESOURCE_EXHAUSTED: true,
  FAILED_PRECONDITION: false,
  ABORTED: true,
  OUT_OF_RANGE: false,
  UNIMPLEMENTED: false,
  INTERNAL: true,
  UNAVAILABLE: true,
  DATA_LOSS: false,
  UNAUTHENTICATED: false,
  HEARTBEAT_LOST: false,
  LEASE_EXPIRED: false,
  LEASE_REVOKED: false,
  BACKPRESSURE_OVERFLOW: false
}

/** Default retryability of any wire code; namespaced codes default to false. */
export const isRetryable = (code: string): boolean => {
  const c = canonicalize(code)
  return isCanonical(c) ? retryableByDefault[c] : false
}

/** The structured error of §18.1. `cause` chains another error of the same shape. */
export interface ErrorPayload {
  readonly code: ErrorCode
  readonly message: string
  readonly retryable?: boolean | undefined
  readonly details?: { readonly [key: string]: unknown } | undefined
  readonly cause?: ErrorPayload | undefined
  readonly trace_id?: string | undefined
}

/** Error payload fields, shared by every payload that *is* an error (nack, tool.error, job.failed, ...). */
export const errorFields = {
  code: ErrorCode,
  message: Schema.String,
  retryable: Schema.optional(Schema.Boolean),
  details: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown })),
  cause: Schema.optional(Schema.suspend((): Schema.Schema<ErrorPayload> => ErrorPayload)),
  trace_id: Schema.optional(Schema.String)
}

/** Schema of the §18.1 error payload. */
export const ErrorPayload: Schema.Schema<ErrorPayload> = Schema.Struct(errorFields).annotations({
  identifier: "ErrorPayload"
})

/**
 * The protocol error: what a runtime service fails with when the failure *is*
 * the answer (bad token, unknown job). The Connection turns it into the wire
 * payload with `toPayload`; a client turns received payloads back with `fromPayload`.
 */
export class ArcpError extends Schema.TaggedError<ArcpError>()("ArcpError", {
  code: ErrorCode,
  message: Schema.String,
  retryable: Schema.optional(Schema.Boolean),
  details: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown })),
  cause: Schema.optional(ErrorPayload),
  trace_id: Schema.optional(Schema.String)
}) {
  /** The canonical reading of `code` (the alias resolved). */
  get canonicalCode(): string {
    return canonicalize(this.code)
  }

  /** Whether a retry may succeed: the explicit flag, else the §18.3 default. */
  get isRetryable(): boolean {
    return this.retryable ?? isRetryable(this.code)
  }

  /** The wire payload; `retryable` is always filled (§18.3 asks for it to be accurate). */
  toPayload(): ErrorPayload {
    return {
      code: this.code,
      message: this.message,
      retryable: this.isRetryable,
      ...(this.details !== undefined ? { details: this.details } : {}),
      ...(this.cause !== undefined ? { cause: this.cause } : {}),
      ...(this.trace_id !== undefined ? { trace_id: this.trace_id } : {})
    }
  }

  /** Rebuilds the error from a received payload. */
  static fromPayload(payload: ErrorPayload): ArcpError {
    return new ArcpError(payload)
  }

  /** Shorthand: `ArcpError.of("NOT_FOUND", "no such job")`. */
  static of(
    code: ErrorCode,
    message: string,
    extra?: { readonly details?: Record<string, unknown>; readonly cause?: ErrorPayload; readonly retryable?: boolean }
  ): ArcpError {
    return new ArcpError({ code, message, ...extra })
  }
}
