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
import type { Outbound } from "../Outbound.js"

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

/** The sidecar of `connection`; its transfers end with the scope. */
export const make = (connection: Connection, outbound: Outbound): Effect.Effect<Sidecar, never, Scope.Scope> =>
  Effect.gen(function*() {
    // the inbox of uploads is made on the first one: most connections never upload (issue 12)
    let inbox: Inbox | undefined
    const withInbox = <A, E>(use: (inbox: Inbox) => Effect.Effect<A, E>): Effect.Effect<A, E> =>
      inbox !== undefined ? use(inbox) : Effect.flatMap(makeInbox(), (made) => use(inbox ??= made))
    // forked in the connection's scope, which interrupts them when it closes (no FiberSet per connection, issue 12)
    const scope = yield* Effect.scope

    const refuse = (message: string, key?: string) => {
      const id = readMessageId(key)
      return outbound.emit(
        "nack",
        {
          ...ArcpError.of("INVALID_ARGUMENT", message).toPayload(),
          ...(Option.isSome(id) ? { ack_for: id.value } : {})
        },
        Option.isSome(id) ? { correlation_id: id.value } : {}
      )
    }

    const deliver = (data: Uint8Array) =>
      Effect.gen(function*() {
        const frame = Frame.decode(data)
        if (typeof frame === "string") return yield* refuse(`${frame} (docs/decisions.md, sidecar frames)`)
        if (frame.kind !== "transfer") {
          return yield* refuse("binary stream chunks from a client are not accepted: streams are the runtime's")
        }
        const outcome = yield* withInbox((open) => open.accept(frame))
        if (outcome === "late") return yield* Effect.logDebug(`dropped a late sidecar frame of ${frame.key}`)
        if (outcome === "unknown") {
          return yield* refuse(`binary frame for ${frame.key}, which no artifact.put announced`, frame.key)
        }
      })

    return {
      binary: connection.binary,
      expect: (key) =>
        connection.binary
          ? withInbox((open) => open.expect(key))
          : Effect.fail(ArcpError.of("INVALID_ARGUMENT", "this transport has no binary frames: send the data base64")),
      deliver,
      transmit: (key, bytes) =>
        transmit(connection, key, bytes).pipe(
          Effect.catchTag("TransportError", (e) =>
            Effect.fail(ArcpError.of("UNAVAILABLE", `cannot send sidecar frames: ${e.message}`)))
        ),
      fork: (effect) => Effect.asVoid(Effect.forkIn(effect, scope))
    }
  })
