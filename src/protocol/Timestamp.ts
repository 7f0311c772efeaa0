/** RFC 3339 timestamps as they appear on the wire (RFC §6.1.1 `timestamp`). */
import { Clock, Effect, Schema } from "effect"

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/

const isLeapYear = (y: number): boolean => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0

const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

/**
 * True when the groups of an `RFC3339` match name a real instant. `Date.parse` rolls 2026-02-30
 * over to March 2, so the calendar is checked here (RFC 3339 §5.7). Second 60 is a leap second,
 * which RFC 3339 allows. Kept to plain comparisons: it runs for every envelope.
 */
const inRange = (m: RegExpExecArray): boolean => {
  const year = Number(m[1])
  const month = Number(m[2])
  const day = Number(m[3])
  if (month < 1 || month > 12 || day < 1) return false
  const days = month === 2 && isLeapYear(year) ? 29 : (DAYS[month - 1] ?? 0)
  return day <= days && Number(m[4]) <= 23 && Number(m[5]) <= 59 && Number(m[6]) <= 60 &&
    (m[8] === undefined || (Number(m[9]) <= 23 && Number(m[10]) <= 59))
}

/** True for an RFC 3339 date-time naming a real instant: the calendar date exists, the time is in range. */
export const isTimestamp = (s: string): boolean => {
  const m = RFC3339.exec(s)
  return m !== null && inRange(m)
}

/** An RFC 3339 date-time string; kept as the string the sender wrote. */
export const Timestamp = Schema.String.pipe(
  Schema.filter((s) => isTimestamp(s) || `Expected an RFC 3339 timestamp, actual ${JSON.stringify(s)}`, {
    identifier: "Timestamp"
  })
)
export type Timestamp = typeof Timestamp.Type

let cachedMs = Number.NaN
let cachedText = ""

/** Formats epoch milliseconds as an RFC 3339 UTC timestamp (the last one is kept: envelopes come in bursts). */
export const fromMillis = (ms: number): Timestamp => {
  if (ms !== cachedMs) {
    cachedText = new Date(ms).toISOString()
    cachedMs = ms
  }
  return cachedText
}

/** The current time, read from the Effect `Clock` (so `TestClock` controls it). */
export const now: Effect.Effect<Timestamp> = Effect.map(Clock.currentTimeMillis, fromMillis)

/**
 * Epoch milliseconds of a wire timestamp (NaN if it is not one). A leap second
 * (`:60`) reads as the first millisecond of the next minute, as POSIX time does.
 */
export const toMillis = (t: Timestamp): number => {
  const m = RFC3339.exec(t)
  if (m === null || !inRange(m)) return Number.NaN
  const offset = m[8] === undefined ? 0 : (m[8] === "-" ? -1 : 1) * (Number(m[9]) * 60 + Number(m[10]))
  const date = new Date(0)
  // setUTCFullYear, not Date.UTC: Date.UTC maps years 0-99 to 1900-1999
  date.setUTCFullYear(Number(m[1]), Number(m[2]) - 1, Number(m[3]))
  date.setUTCHours(Number(m[4]), Number(m[5]) - offset, Number(m[6]), Math.floor(Number(`0${m[7] ?? ""}`) * 1000))
  return date.getTime()
}
