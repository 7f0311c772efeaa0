/**
 * Writes that ride with an outbound envelope's commit: the envelope and they go to the log in one
 * transaction, in the connection's order. What the answer to `session.close` carries: the session's
 * release, so closing costs one commit, not two.
 */
import type { Decoded } from "../../protocol/Message.js"
import type { Part } from "../events/Recorder.js"

export interface Rider {
  /** Committed right after the envelope. */
  readonly parts: ReadonlyArray<Part>
  /** Told once they are committed. */
  readonly committed: () => void
}

const riders = new WeakMap<Decoded, Rider>()

/** `envelope`, with `rider` to commit along with it. */
export const withRider = (envelope: Decoded, rider: Rider): Decoded => {
  riders.set(envelope, rider)
  return envelope
}

/** What rides with `envelope`, if anything. */
export const riderOf = (envelope: Decoded): Rider | undefined => riders.get(envelope)
