/**
 * The `when` of `job.schedule` (RFC §10.6) as a plan of firings: `at` (one
 * RFC 3339 instant), `after` (seconds from acceptance) or `every` (an RFC 5545
 * recurrence, expanded by the `rrule` library, with DTSTART, UNTIL, COUNT and
 * a TZID time zone). A `when` that cannot fire, or fires too often, is refused
 * with the reason.
 */
import { DateTime, Either, Option } from "effect"
import rrule from "rrule"
import type { PayloadOf } from "../../protocol/Message.js"

/** The firings of a schedule. */
export interface Plan {
  /**
   * The first firing strictly after `instant` (epoch ms); none once it fires no more. `anchor`, a
   * known firing not after `instant`, lets a recurrence without COUNT expand from there rather
   * than from its DTSTART (rrule iterates from its start: ~20 µs per occurrence skipped).
   */
  readonly next: (instant: number, anchor?: number) => number | undefined
  /** Up to `n` firings strictly after `instant`, in one expansion. */
  readonly upcoming: (instant: number, n: number) => ReadonlyArray<number>
}

/** How far back a DTSTART may lie: the rule is expanded from it, so its age is what each expansion costs. */
const MAX_DTSTART_AGE_MS = 366 * 24 * 3600 * 1000
/** How many firings the minimum-interval check looks at. */
const PROBE = 24

const DTSTART_LINE = /^DTSTART(?:;TZID=([^:]+))?:([0-9]{4})([0-9]{2})([0-9]{2})T([0-9]{2})([0-9]{2})([0-9]{2})(Z?)$/i

/** A recurrence read in a zone: rrule expands wall-clock times as if they were UTC ("floating"), we place them in the zone. */
interface Recurrence {
  readonly rule: InstanceType<typeof rrule.RRule>
  readonly zone: DateTime.TimeZone | undefined
}

/** Wall-clock time in `zone` (as a UTC-floating epoch) of an instant. */
const toWall = (zone: DateTime.TimeZone | undefined, instant: number): number =>
  zone === undefined ? instant : instant + DateTime.zonedOffset(DateTime.unsafeMakeZoned(instant, { timeZone: zone }))

/** The instant of a wall-clock time in `zone`; in a DST gap, the later reading; in an overlap, the earlier. */
const toInstant = (zone: DateTime.TimeZone | undefined, wall: number): number =>
  zone === undefined ? wall : DateTime.toEpochMillis(
    DateTime.unsafeMakeZoned(wall, { timeZone: zone, adjustForTimeZone: true, disambiguation: "compatible" })
  )

const parseRecurrence = (text: string, acceptedAt: number): Either.Either<Recurrence, string> => {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== "")
  const startLine = lines.find((l) => /^DTSTART[;:]/i.test(l))
  const ruleLine = (lines.find((l) => !/^DTSTART[;:]/i.test(l)) ?? "").replace(/^RRULE:/i, "")
  let zone: DateTime.TimeZone | undefined
  // no DTSTART: the rule starts at acceptance (whole seconds, UTC)
  let dtstart = Math.floor(acceptedAt / 1000) * 1000
  if (startLine !== undefined) {
    const m = DTSTART_LINE.exec(startLine)
    if (m === null) return Either.left(`"${startLine}" is not a DTSTART line`)
    const [, tzid, y, mo, d, h, mi, s, utc] = m
    if (tzid !== undefined) {
      if (utc === "Z") return Either.left("a DTSTART with TZID must not end in Z (RFC 5545 §3.3.5)")
      const named = DateTime.zoneMakeNamed(tzid)
      if (Option.isNone(named)) return Either.left(`unknown time zone TZID=${tzid}`)
      zone = named.value
    }
    dtstart = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s))
    if (Number.isNaN(dtstart)) return Either.left(`"${startLine}" is not a valid date`)
    if (acceptedAt - toInstant(zone, dtstart) > MAX_DTSTART_AGE_MS) {
      return Either.left("DTSTART lies more than a year in the past; give a later DTSTART")
    }
  }
  try {
    const options = rrule.RRule.parseString(ruleLine)
    // no cache: rrule would otherwise keep every query's answer for the life of the schedule
    return Either.right({ rule: new rrule.RRule({ ...options, dtstart: new Date(dtstart) }, true), zone })
  } catch (e) {
    return Either.left(`not a valid RRULE: ${e instanceof Error ? e.message : String(e)}`)
  }
}

/** The rule restarted at the wall time of `anchor`, one of its firings: same firings from there on (not with COUNT). */
const rebased = ({ rule, zone }: Recurrence, anchor: number | undefined) =>
  anchor === undefined || rule.origOptions.count != null
    ? rule
    : new rrule.RRule({ ...rule.origOptions, dtstart: new Date(toWall(zone, anchor)) }, true)

const recurring = (recurrence: Recurrence): Plan => {
  const { zone } = recurrence
  const next = (instant: number, anchor?: number): number | undefined => {
    const wall = rebased(recurrence, anchor).after(new Date(toWall(zone, instant)), false)
    if (wall === null) return undefined
    const at = toInstant(zone, wall.getTime())
    // a DST overlap can map the next wall time onto an instant not after this one: take the one after it
    return at > instant ? at : next(instant + 1000, anchor)
  }
  return {
    next,
    upcoming: (instant, n) => {
      const from = new Date(toWall(zone, instant))
      const walls = recurrence.rule.between(from, new Date(8.64e15), false, (_, i) => i < n)
      return walls.map((w) => toInstant(zone, w.getTime())).filter((at) => at > instant)
    }
  }
}

const once = (at: number): Plan => ({
  next: (instant) => (at > instant ? at : undefined),
  upcoming: (instant) => (at > instant ? [at] : [])
})

/**
 * The plan of `when`, accepted at `acceptedAt` (epoch ms), or why it is refused:
 * an `at` in the past, a recurrence that never fires after acceptance, or one whose
 * firings come closer together than `minIntervalMs`.
 */
export const plan = (
  when: PayloadOf<"job.schedule">["when"],
  acceptedAt: number,
  minIntervalMs: number
): Either.Either<{ readonly plan: Plan; readonly first: number }, string> => {
  if (when.at !== undefined) {
    const at = Date.parse(when.at)
    if (Number.isNaN(at)) return Either.left(`when.at "${when.at}" is not a time`)
    if (at < acceptedAt) return Either.left(`when.at ${when.at} is in the past`)
    return Either.right({ plan: once(at), first: at })
  }
  if (when.after !== undefined) {
    const at = acceptedAt + Math.round(when.after * 1000)
    return Either.right({ plan: once(at), first: at })
  }
  if (when.every === undefined) return Either.left("when must name one of at, every, after")
  return Either.flatMap(parseRecurrence(when.every, acceptedAt), (recurrence) => {
    const p = recurring(recurrence)
    const [first, ...rest] = p.upcoming(acceptedAt - 1, minIntervalMs > 0 ? PROBE : 1)
    if (first === undefined) return Either.left("the RRULE never fires after now (its UNTIL or COUNT has passed)")
    let previous = first
    for (const following of rest) {
      if (following - previous < minIntervalMs) {
        return Either.left(
          `the RRULE fires ${(following - previous) / 1000} s apart, more often than the minimum interval of ${
            minIntervalMs / 1000
          } s`
        )
      }
      previous = following
    }
    return Either.right({ plan: p, first })
  })
}
