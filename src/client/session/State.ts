/**
 * What a client session's parts share (the reader, the handshake, the reconnect supervisor): the
 * transport in use, whether it is up, and the marks a resume needs; and sending on that transport (§6.1.1).
 */
import { Effect, Stream } from "effect"
import { type HeaderOptions, make as makeEnvelope } from "../../protocol/Envelope.js"
import type { MessageId, SessionId } from "../../protocol/Ids.js"
import { type Decoded, encodeUnchecked, type MessageType, type PayloadOf } from "../../protocol/Message.js"
import type { Connection } from "../../transport/Transport.js"
import { ClientError } from "../ClientApi.js"

const transportError = (e: { readonly message: string }) => new ClientError({ reason: "Transport", message: e.message })

/**
 * The session's shared state, one per `connect`; never seen outside `src/client`. Each field says who
 * writes it.
 */
export class SessionState {
  /** The transport in use: the supervisor replaces a dropped one with a redialled one. */
  current: Connection
  /** Mirrors `up` (both written by `down` and `back`): a send while up skips the latch's steps. */
  isUp = true
  /** Set by `close` and a refused fingerprint: a dropped transport then ends the session, no reconnect. */
  closing = false
  /** False once the runtime ended the session for good (an eviction that allows no resume): the reader. */
  resumable = true
  /** Set by `connect` once the session is open and everything the supervisor uses is in place. */
  established = false
  /** The last message of the session the reader handed on: where a resume starts (§19). */
  lastSeen: MessageId | undefined = undefined
  /** The id of the `resume` sent after a reconnect: its ack is where the reader puts the `Resumed` mark. */
  resumeId: string | undefined = undefined
  /**
   * The handshake request waiting for its answer (`session.open`, `session.authenticate`): a `session.rejected`
   * the runtime sends unprompted (its handshake deadline passed) is that request's answer.
   */
  handshakeId: string | undefined = undefined
  /** The session's id, once accepted: every later envelope names it (§6.1.1). */
  sessionId: SessionId | undefined = undefined
  /** What the artifact code sees: whichever transport is current, its sends waiting while reconnecting. */
  readonly live: Connection

  private constructor(
    connection: Connection,
    /** While reconnecting, application sends wait on it; the new transport's handshake goes past. */
    private readonly up: Effect.Latch
  ) {
    this.current = connection
    const current = () => this.current
    this.live = {
      get label() {
        return current().label
      },
      get binary() {
        return current().binary
      },
      incoming: Stream.suspend(() => current().incoming),
      send: (frame) => Effect.zipRight(up.await, Effect.suspend(() => current().send(frame))),
      close: Effect.suspend(() => current().close),
      drain: Effect.suspend(() => current().drain ?? Effect.void)
    }
  }

  static make = (connection: Connection): Effect.Effect<SessionState> =>
    Effect.map(Effect.makeLatch(true), (up) => new SessionState(connection, up))

  /** The transport dropped: application sends wait until `back`. */
  readonly down: Effect.Effect<void> = Effect.suspend(() => {
    this.isUp = false
    return this.up.close
  })

  /** Reconnected, or given up: the waiting sends go on (on the new transport, or failing on the old). */
  readonly back: Effect.Effect<void> = Effect.suspend(() => {
    this.isUp = true
    return this.up.open
  })

  /** `envelope` naming the session, once there is one. */
  readonly inSession = (envelope: Decoded): Decoded =>
    this.sessionId === undefined || envelope.session_id === this.sessionId
      ? envelope
      : { ...envelope, session_id: this.sessionId }

  /** Sends a frame on the current transport, once it is up. */
  readonly sendFrame = (frame: string | Uint8Array): Effect.Effect<void, ClientError> =>
    Effect.mapError(
      // while reconnecting, the transport is read once the latch opens: a new one has replaced it by then
      Effect.suspend(() =>
        this.isUp
          ? this.current.send(frame)
          : Effect.zipRight(this.up.await, Effect.suspend(() => this.current.send(frame)))
      ),
      transportError
    )

  /** Sends a frame at once, reconnecting or not (the new transport's own handshake). */
  readonly sendNow = (frame: string): Effect.Effect<void, ClientError> =>
    Effect.suspend(() => this.current.send(frame)).pipe(Effect.mapError(transportError))

  /** Sends `envelope` on the current transport, naming the session. */
  readonly sendEnvelope = (envelope: Decoded): Effect.Effect<void, ClientError> =>
    Effect.suspend(() => this.sendFrame(encodeUnchecked(this.inSession(envelope))))

  /** Sends a new message of `type` in the session; its id. */
  readonly write = <T extends MessageType>(type: T, payload: PayloadOf<T>, header: HeaderOptions = {}) =>
    Effect.gen(this, function*() {
      const envelope = yield* makeEnvelope(type, payload, {
        ...(this.sessionId !== undefined ? { session_id: this.sessionId } : {}),
        ...header
      })
      yield* this.sendFrame(encodeUnchecked(envelope))
      return envelope.id
    })
}
