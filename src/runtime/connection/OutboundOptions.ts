/**
 * A connection's outbound path options (Outbound's `Options`): what it records and how, its limits, and how the
 * session ends when recording fails or the peer stops reading. Read off the connection when used.
 */
import { Duration, Effect } from "effect"
import type { Decoded } from "../../protocol/Message.js"
import { isRelayed } from "../events/Relayed.js"
import type * as Outbound from "../outbound/Outbound.js"
import type { Dependencies } from "./Dependencies.js"
import * as Riders from "./Riders.js"

/** The connection, as the options read it. */
export interface Source {
  readonly settings: Dependencies["settings"]
  readonly recorder: Dependencies["recorder"]
  /** Notes an envelope as recorded by this connection (connection/RecordedIds). */
  remember<A extends { readonly id: string }>(envelope: A): A
  /** Whose the session is, once the handshake knows. */
  principal(): string
  /** Ends the session for `reason` (§8.5), or the connection when no session is open. */
  endWith(reason: "UNAVAILABLE" | "BACKPRESSURE_OVERFLOW", message: string): Effect.Effect<void>
}

/** The outbound path's options, read off the connection (one small object, no closures kept per connection). */
export const outboundOptions = (served: Source): Outbound.Options => new OutboundOptions(served)

class OutboundOptions implements Outbound.Options {
  readonly limits: Outbound.Limits
  constructor(private readonly served: Source) {
    const { settings } = served
    this.limits = {
      maxBytes: settings.maxOutboundBytes,
      maxEnvelopes: settings.maxOutboundEnvelopes,
      stallTimeout: settings.stalledReaderTimeout
    }
  }
  // every envelope of a session goes to the log before the socket; handshake traffic has no session yet
  // (relayed copies were committed elsewhere and handed over by the bus already)
  recordable(envelope: Decoded): boolean {
    return envelope.session_id !== undefined && !isRelayed(envelope)
  }
  // committed, then published; the bus hands the committed copies back to the writer (the inbox)
  record(batch: ReadonlyArray<Outbound.Framed>, inbox: Outbound.Inbox) {
    const { served } = this
    const entries = batch.flatMap(({ envelope, json }) =>
      envelope.session_id === undefined
        ? []
        : [{ envelope: served.remember(envelope), sessionId: envelope.session_id, principal: served.principal(), json }]
    )
    return Riders.record(served.recorder, entries, inbox)
  }
  // durable before the client sees it: what cannot be recorded is not sent, and the session ends (retryable)
  onRecordFailure(error: { readonly message: string }): Effect.Effect<void> {
    return this.served.endWith("UNAVAILABLE", `the runtime cannot record this session: ${error.message}`)
  }
  get onStall(): Effect.Effect<void> {
    return Effect.suspend(() =>
      this.served.endWith(
        "BACKPRESSURE_OVERFLOW",
        `the client read nothing for ${
          Duration.format(this.served.settings.stalledReaderTimeout)
        } while its buffer was full`
      )
    )
  }
}
