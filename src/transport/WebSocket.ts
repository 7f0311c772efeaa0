/**
 * WebSocket transport (RFC §22, mandatory): a listening server (an `Acceptor`)
 * and a client `connect`. Text frames carry envelopes; binary frames stay
 * available for sidecar data (§11.3).
 */
import { NodeSocket, NodeSocketServer } from "@effect/platform-node"
import * as Socket from "@effect/platform/Socket"
import { Deferred, Effect, Layer, Mailbox, Option, type Scope } from "effect"
import {
  Acceptor,
  binaryFrame,
  type Connection,
  DEFAULT_MAX_FRAME_BYTES,
  type Incoming,
  textFrame,
  TransportError
} from "./Transport.js"

export interface ServerOptions {
  readonly host?: string | undefined
  readonly port?: number | undefined
  readonly path?: string | undefined
  readonly maxFrameBytes?: number | undefined
}

/**
 * Frames above `maxFrameBytes` are answered by the runtime and the connection
 * lives on; only frames above this multiple of it make `ws` close the socket
 * (1009), so a hostile peer cannot make us buffer without bound.
 */
const HARD_CAP_FACTOR = 16

const bufferedOf = (raw: globalThis.WebSocket) => () => raw.bufferedAmount

/** Adapts a platform `Socket` to a `Connection`; the socket runs until the scope closes. */
export const fromSocket = (
  socket: Socket.Socket,
  options: {
    readonly label: string
    readonly maxFrameBytes: number
    /** The socket underneath, when known: its `bufferedAmount` is what this end holds for the peer. */
    readonly raw?: globalThis.WebSocket | undefined
  }
): Effect.Effect<
  { readonly connection: Connection; readonly opened: Effect.Effect<void, TransportError> },
  never,
  Scope.Scope
> =>
  Effect.gen(function*() {
    const mailbox = yield* Mailbox.make<Incoming, TransportError>()
    const opened = yield* Deferred.make<void, TransportError>()
    const write = yield* socket.writer
    const max = options.maxFrameBytes
    yield* socket.runRaw((data) => {
      mailbox.unsafeOffer(typeof data === "string" ? textFrame(data, max) : binaryFrame(data, max))
    }, { onOpen: Deferred.succeed(opened, undefined) }).pipe(
      Effect.matchEffect({
        onSuccess: () => mailbox.end,
        onFailure: (cause) => {
          const error = new TransportError({ reason: "Read", message: `${options.label}: ${cause.message}`, cause })
          return Effect.zipRight(Deferred.fail(opened, error), mailbox.fail(error))
        }
      }),
      Effect.ensuring(
        Effect.zipRight(Deferred.fail(opened, new TransportError({ reason: "Closed", message: "closed" })), mailbox.end)
      ),
      Effect.forkScoped
    )
    const connection: Connection = {
      label: options.label,
      binary: true,
      incoming: Mailbox.toStream(mailbox),
      ...(options.raw !== undefined ? { buffered: bufferedOf(options.raw) } : {}),
      send: (frame) =>
        write(frame).pipe(
          Effect.mapError((cause) =>
            new TransportError({ reason: "Write", message: `${options.label}: ${cause.message}`, cause })
          )
        ),
      close: write(new Socket.CloseEvent(1000, "closed")).pipe(Effect.ignore)
    }
    return { connection, opened: Deferred.await(opened) }
  })

const listen = (options: ServerOptions) =>
  Effect.gen(function*() {
    const host = options.host ?? "127.0.0.1"
    const maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES
    const server = yield* NodeSocketServer.makeWebSocket({
      host,
      port: options.port ?? 7777,
      ...(options.path !== undefined ? { path: options.path } : {}),
      maxPayload: maxFrameBytes * HARD_CAP_FACTOR,
      perMessageDeflate: false
    }).pipe(Effect.mapError((cause) =>
      new TransportError({ reason: "Open", message: `cannot listen: ${cause.message}`, cause })
    ))
    const address = server.address
    const port = address._tag === "TcpAddress" ? address.port : 0
    let next = 0
    return Acceptor.of({
      address: `ws://${host}:${port}${options.path ?? ""}`,
      run: (handler) =>
        server.run((socket) =>
          // the platform server hands each connection's `ws` over in the handler's context
          Effect.serviceOption(Socket.WebSocket).pipe(
            Effect.flatMap((raw) =>
              fromSocket(socket, { label: `ws#${++next}`, maxFrameBytes, raw: Option.getOrUndefined(raw) })
            ),
            Effect.flatMap(({ connection }) =>
              handler(connection)
            ),
            Effect.scoped
          )
        ).pipe(Effect.mapError((cause) => new TransportError({ reason: "Read", message: cause.message, cause })))
    })
  })

/** A WebSocket server on `host:port` (127.0.0.1:7777 by default; port 0 picks a free one). */
export const layer = (options: ServerOptions = {}): Layer.Layer<Acceptor, TransportError> =>
  Layer.scoped(Acceptor, listen(options))

/** Connects to a WebSocket server; the connection lives as long as the scope. */
export const connect = (
  url: string,
  options: { readonly maxFrameBytes?: number | undefined; readonly openTimeout?: number | undefined } = {}
): Effect.Effect<Connection, TransportError, Scope.Scope> =>
  Effect.gen(function*() {
    const socket = yield* Socket.makeWebSocket(url, { openTimeout: options.openTimeout ?? 10_000 })
    const { connection, opened } = yield* fromSocket(socket, {
      label: url,
      maxFrameBytes: options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES * HARD_CAP_FACTOR
    })
    yield* opened
    return connection
  }).pipe(Effect.provide(NodeSocket.layerWebSocketConstructor))
