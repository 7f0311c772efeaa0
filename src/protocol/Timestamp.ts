/** RFC 3339 timestamps as they appear on the wire (RFC §6.1.1 `timestamp`). */
import { Clock, Effect, Schema } from "effect"

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/

/** An RFC 3339 date-time string; kept as the string the sender wrote. */
export const Timestamp = Schema.String.pipe(
  Schema.filter((s) => (RFC3339.test(s) && !Number.isNaN(Date.parse(s))) || "Expected an RFC 3339 timestamp", {
    identifier: "Timestamp"
  })
)
export type Timestamp = typeof Timestamp.Type

/** Formats epoch milliseconds as an RFC 3339 UTC timestamp. */
export const fromMillis = (ms: number): Timestamp => new Date(ms).toISOString()

/** The current time, read from the Effect `Clock` (so `TestClock` controls it). */
export const now: Effect.Effect<Timestamp> = Effect.map(Clock.currentTimeMillis, fromMillis)

/** Epoch milliseconds of a wire timestamp. */
export const toMillis = (t: Timestamp): number => Date.parse(t)
