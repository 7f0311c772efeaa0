/**
 * Sidecar binary frames on one runtime connection (RFC §11.3, §16.2): frames
 * of an upload announced by an `artifact.put` go to its transfer (in order, with
 * backpressure on the socket's reader); frames nobody announced are refused with
 * a nack; outgoing transfers (fetch answers) are sent with drain between frames.
 */
import { Effect, Option, Schema, type Scope, type Stream } from "effect"
import { ArcpError } from "../../protocol/Errors.js"
import { MessageId } from "../../protocol/Ids.js"
import * as Frame from "../../protocol/Sidecar.js"
import { type Expected, type Inbox, makeInbox, transmit } from "../../transport/SidecarTransfers.js"
import type { Connection } from "../../transport/Transport.js"
import type { Outbound } from "../outbound/Outbound.js"

export interface Sidecar {
  /** The transport carries binary frames (WebSocket); false means base64 only. */
  readonly binary: boolean
  /** Announces an upload keyed by the put's message id (see `SidecarTransfers.Inbox.expect`). */
  readonly expect: (key: string) => Effect.Effect<Expected, ArcpError>
  /** Handles one incoming binary frame of the open session. */
  readonly deliver: (data: Uint8Array) => Effect.Effect<void>
  /** Sends `bytes` to the peer as frames keyed to `key`, the last one marked final. */
  readonly transmit: (key: string, bytes: Stream.Stream<Uint8Array, ArcpError>) => Effect.Effect<void, ArcpError>
  /** Runs `effect` in the background for as long as the connection lives. */
  readonly fork: (effect: Effect.Effect<void>) => Effect.Effect<void>
}

const readMessageId = Schema.decodeUnknownOption(MessageId)

/**
 * One connection's sidecar: an object whose methods are on its prototype, not closures made per connection (an
 * idle session's memory, issue 12); the inbox of uploads is made on the first one (most connections never upload).
 */
class ConnectionSidecar implements Sidecar {
  private inbox: Inbox | undefined
  constructor(
    private readonly connection: Connection,
    private readonly outbound: Outbound,
    // forked in the connection's scope, which interrupts them when it closes (no FiberSet per connection, issue 12)
    private readonly scope: Scope.Scope
  ) {}

  get binary() {
    return this.connection.binary
  }

  private withInbox<A, E>(use: (inbox: Inbox) => Effect.Effect<A, E>): Effect.Effect<A, E> {
    const { inbox } = this
    return inbox !== undefined ? use(inbox) : Effect.flatMap(makeInbox(), (made) => use(this.inbox ??= made))
  }

  private refuse(message: string, key?: string) {
    const id = readMessageId(key)
    return this.outbound.emit(
      "nack",
      {
        ...ArcpError.of("INVALID_ARGUMENT", message).toPayload(),
        ...(Option.isSome(id) ? { ack_for: id.value } : {})
      },
      Option.isSome(id) ? { correlation_id: id.value } : {}
    )
  }

  expect(key: string): Effect.Effect<Expected, ArcpError> {
    return this.connection.binary
      ? this.withInbox((open) => open.expect(key))
      : Effect.fail(ArcpError.of("INVALID_ARGUMENT", "this transport has no binary frames: send the data base64"))
  }

  deliver(data: Uint8Array): Effect.Effect<void> {
    return Effect.suspend(() => {
      const frame = Frame.decode(data)
      if (typeof frame === "string") return this.refuse(`${frame} (docs/decisions.md, sidecar frames)`)
      if (frame.kind !== "transfer") {
        return this.refuse("binary stream chunks from a client are not accepted: streams are the runtime's")
      }
      return Effect.flatMap(this.withInbox((open) => open.accept(frame)), (outcome) =>
        outcome === "late"
          ? Effect.logDebug(`dropped a late sidecar frame of ${frame.key}`)
          : outcome === "unknown"
          ? this.refuse(`binary frame for ${frame.key}, which no artifact.put announced`, frame.key)
          : Effect.void)
    })
  }

  transmit(key: string, bytes: Stream.Stream<Uint8Array, ArcpError>): Effect.Effect<void, ArcpError> {
    return transmit(this.connection, key, bytes).pipe(
      Effect.catchTag(
        "TransportError",
        (e) => Effect.fail(ArcpError.of("UNAVAILABLE", `cannot send sidecar frames: ${e.message}`))
      )
    )
  }

  fork(effect: Effect.Effect<void>): Effect.Effect<void> {
    return Effect.asVoid(Effect.forkIn(effect, this.scope))
  }
}

/** The sidecar of `connection`, built at once; its transfers end with `scope`. */
export const unsafeMake = (connection: Connection, outbound: Outbound, scope: Scope.Scope): Sidecar =>
  new ConnectionSidecar(connection, outbound, scope)
