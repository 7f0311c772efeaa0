/**
 * The envelopes a connection recorded (and so writes itself): a resume's follower skips them (§19). Live ones
 * arrive as the same objects; a backfill decodes the log afresh, so the latest ids are kept too (a resume comes
 * right after the take-back: by then the connection has recorded only a few).
 */

/** How many ids of the envelopes it recorded a connection keeps, for a resume's backfill to skip. */
const RECORDED_IDS = 1024

export interface RecordedIds {
  /** Notes an envelope as recorded here; returns it. */
  readonly remember: <A extends { readonly id: string }>(envelope: A) => A
  /** Whether this connection recorded the envelope. */
  readonly recordedHere: (envelope: { readonly id: string }) => boolean
}

export const make = (): RecordedIds => {
  const mine = new WeakSet<object>()
  const mineIds = new Set<string>()
  const recordedHere = (envelope: { readonly id: string }) => mine.has(envelope) || mineIds.has(envelope.id)
  const remember = <A extends { readonly id: string }>(envelope: A): A => {
    mine.add(envelope)
    mineIds.add(envelope.id)
    if (mineIds.size > RECORDED_IDS) {
      const oldest = mineIds.values().next()
      if (oldest.done !== true) mineIds.delete(oldest.value)
    }
    return envelope
  }
  return { remember, recordedHere }
}
