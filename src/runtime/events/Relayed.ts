/**
 * Envelopes a session is handed that were recorded elsewhere: a job of
 * another session it watches, a replay of what answered a retransmit. They
 * are committed already (under the session they were first sent to), so the
 * connection writes them without recording them again — the log holds each
 * envelope once, and a by-job read never returns an id twice.
 */
import type { Decoded } from "../../protocol/Message.js"

const relayed = new WeakSet<Decoded>()

/** A copy of a recorded envelope re-addressed to `sessionId`, marked as relayed. */
export const relay = (envelope: Decoded, sessionId: Decoded["session_id"]): Decoded => {
  const copy: Decoded = { ...envelope, session_id: sessionId }
  relayed.add(copy)
  return copy
}

/** Marks an envelope its sender committed itself (the handshake's answer, with its transcript): written as it is. */
export const committed = (envelope: Decoded): Decoded => {
  relayed.add(envelope)
  return envelope
}

/** Whether the envelope is a relayed copy (not to be recorded again). */
export const isRelayed = (envelope: Decoded): boolean => relayed.has(envelope)
