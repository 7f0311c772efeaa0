/**
 * How a black-box test reaches the server under test: an in-process acceptor
 * (memory, WebSocket, Unix socket, HTTP/2) or a spawned `arcp serve --transport stdio` child.
 * Also a spy that records the frames a connection sends and receives.
 */
import { Context, Effect, Layer, Option, type Scope, Stream } from "effect"
import { dialUrl } from "../../src/client/ArcpClient.js"
import { decodeJson } from "../../src/protocol/Message.js"
import * as Memory from "../../src/transport/Memory.js"
import type { ClientTls } from "../../src/transport/Tls.js"
import { Acceptor, type Connection, type TransportError } from "../../src/transport/Transport.js"

/** Opens a new client connection to the server under test. */
export class Dialer extends Context.Tag("test/Dialer")<Dialer, {
  readonly dial: Effect.Effect<Connection, TransportError, Scope.Scope>
}>() {}

/** Dials the server under test. */
export const dial: Effect.Effect<Connection, TransportError, Dialer | Scope.Scope> = Effect.flatMap(
  Dialer,
  (d) => d.dial
)

/** Dials the in-process acceptor: its memory network when it has one, else its address (ws://, wss://, unix://, http://). */
export const fromAcceptorWith = (tls?: ClientTls): Layer.Layer<Dialer, never, Acceptor> =>
  Layer.effect(
    Dialer,
    Effect.gen(function*() {
      const acceptor = yield* Acceptor
      const network = yield* Effect.serviceOption(Memory.MemoryNetwork)
      return Dialer.of({ dial: Option.isSome(network) ? network.value.connect : dialUrl(acceptor.address, { tls }) })
    })
  )

export const fromAcceptor: Layer.Layer<Dialer, never, Acceptor> = fromAcceptorWith()

/** One frame seen by a spy: which way it went and its envelope type (`?` when it is not an envelope). */
export interface Seen {
  readonly direction: "out" | "in"
  readonly type: string
  readonly id: string | undefined
  readonly correlationId: string | undefined
  readonly sessionId?: string | undefined
}

const describeFrame = (direction: Seen["direction"], text: string): Seen => {
  const decoded = decodeJson(text)
  return decoded._tag === "Right"
    ? {
      direction,
      type: decoded.right.type,
      id: decoded.right.id,
      correlationId: decoded.right.correlation_id,
      sessionId: decoded.right.session_id
    }
    : { direction, type: "?", id: undefined, correlationId: undefined }
}

/** Wraps a connection so that every text frame it sends or receives is recorded, in the order seen. */
export const spy = (
  connection: Connection
): { readonly connection: Connection; readonly seen: ReadonlyArray<Seen> } => {
  const seen: Array<Seen> = []
  return {
    seen,
    connection: {
      ...connection,
      send: (frame) =>
        Effect.suspend(() => {
          if (typeof frame === "string") seen.push(describeFrame("out", frame))
          return connection.send(frame)
        }),
      incoming: connection.incoming.pipe(Stream.tap((frame) =>
        Effect.sync(() => {
          if (frame._tag === "Text") seen.push(describeFrame("in", frame.text))
        })
      ))
    }
  }
}
