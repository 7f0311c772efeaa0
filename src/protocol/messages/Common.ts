/** Small schemas shared by the message groups. */
import { Schema } from "effect"

/** Any JSON object. */
export const JsonObject = Schema.Record({ key: Schema.String, value: Schema.Unknown })
export type JsonObject = typeof JsonObject.Type

/** Any JSON value, and present: a required field that may hold anything but must not be missing. */
export const JsonValue = Schema.Unknown.pipe(
  Schema.filter((v) => v !== undefined || "is missing", { identifier: "JsonValue" })
)

export const NonEmptyString = Schema.String.pipe(Schema.minLength(1))
export const NonNegativeInt = Schema.Number.pipe(Schema.int(), Schema.nonNegative())
export const PositiveInt = Schema.Number.pipe(Schema.int(), Schema.positive())

/** The states of a job (§10.2). */
export const jobStates = [
  "accepted",
  "queued",
  "running",
  "blocked",
  "paused",
  "completed",
  "failed",
  "cancelled"
] as const
export const JobState = Schema.Literal(...jobStates)
export type JobState = typeof JobState.Type

/** Trust classifications (§15.3). */
export const TrustLevel = Schema.Literal("untrusted", "constrained", "trusted", "privileged")
export type TrustLevel = typeof TrustLevel.Type

/** What `cancel` and `interrupt` can target (§10.4). */
export const CancelTarget = Schema.Literal("job", "stream", "session")
export type CancelTarget = typeof CancelTarget.Type

/** Exactly one of the keys may be present: a reusable filter for "value or ref, never both" payloads. */
export const atMostOneOf =
  <K extends string>(...keys: ReadonlyArray<K>) => (value: { readonly [P in K]?: unknown }): true | string =>
    keys.filter((k) => value[k] !== undefined).length <= 1 || `at most one of ${keys.join(", ")} may be set`
