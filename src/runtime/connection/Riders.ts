/**
 * Writes that ride with an outbound envelope's commit: the envelope and they go to the log in one
 * transaction, in the connection's order. What the answer to `session.close` carries: the session's
 * release, so closing costs one commit, not two.
 */
import { type Context, Effect } from "effect"
import type { Decoded } from "../../protocol/Message.js"
import type { EventLogError } from "../../store/EventLog.js"
import type { Entry, Inbox, Part, Recorder } from "../events/Recorder.js"

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

/** Records a connection's batch: one mixed commit when an envelope of it has writes riding on it. */
export const record = (
  recorder: Context.Tag.Service<typeof Recorder>,
  entries: ReadonlyArray<Entry>,
  inbox: Inbox
): Effect.Effect<void, EventLogError> => {
  const riding = entries.flatMap((e) => riders.get(e.envelope) ?? [])
  if (riding.length === 0) return Effect.asVoid(recorder.record(entries, inbox))
  return recorder.recordGroup(
    entries.flatMap((e): ReadonlyArray<Part> => [
      { _tag: "Outbound", entries: [e] },
      ...(riders.get(e.envelope)?.parts ?? [])
    ]),
    inbox
  ).pipe(Effect.tap(() => riding.forEach((r) => r.committed())), Effect.asVoid)
}
