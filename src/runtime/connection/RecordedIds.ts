/**
 * The envelopes a connection recorded (and so writes itself): a resume's follower skips them (§19), live ones
 * as they come back from the bus and a backfill's as it decodes the log afresh; both are told apart by id.
 */

/** The fewest ids a connection keeps: a resume comes right after the take-back, when it has recorded only a few. */
const RECORDED_IDS = 1024
/** The most a generation holds, whatever the buffer limits (an unbounded buffer must not make this unbounded). */
const MOST_IDS = 65_536

export interface RecordedIds {
  /** Notes an envelope as recorded here; returns it. */
  readonly remember: <A extends { readonly id: string }>(envelope: A) => A
  /** Whether this connection recorded the envelope. */
  readonly recordedHere: (envelope: { readonly id: string }) => boolean
}

/**
 * Keeps at least the last `window` ids (the most a connection's outbound path can hold uncommitted or
 * unwritten, so every live copy of its own envelopes is still known when the bus hands it over), in two
 * generations: when the newer one fills, the older one goes. A bounded Set with a per-id eviction, or a
 * WeakSet of the envelopes, cost ten times more per envelope (issue 12: ~2% of a ticker's server CPU).
 */
export const make = (window = RECORDED_IDS): RecordedIds => {
  const generation = Math.min(MOST_IDS, Math.max(RECORDED_IDS, window))
  let newer = new Set<string>()
  // none until the first generation fills (most connections never record that many)
  let older: Set<string> | undefined
  const recordedHere = (envelope: { readonly id: string }) => newer.has(envelope.id) || older?.has(envelope.id) === true
  const remember = <A extends { readonly id: string }>(envelope: A): A => {
    newer.add(envelope.id)
    if (newer.size >= generation) {
      older = newer
      newer = new Set()
    }
    return envelope
  }
  return { remember, recordedHere }
}
