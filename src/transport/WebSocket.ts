/**
 * WebSocket transport (RFC §22, mandatory): a listening server (an `Acceptor`)
 * and a client `connect`. Text frames carry envelopes; binary frames stay
 * available for sidecar data (§11.3).
 */
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as NodeSocketServer from "@effect/platform-node/NodeSocketServer"
import * as Socket from "@effect/platform/Socket"
import { Deferred, Effect, Layer, Mailbox, Option, type Scope, Stream } from "effect"
import { EventEmitter } from "node:events"
import { Duplex } from "node:stream"
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

/** `WebSocket.OPEN`: the only state in which a frame can be sent. */
const OPEN = 1

/** Bytes a socket may buffer for sending before `drain` makes a sender wait (sidecar transfers). */
const SEND_HIGH_WATER = 1024 * 1024
/** Binary bytes read but not yet taken by the connection before reading pauses (and resumes below half). */
const READ_HIGH_WATER = 4 * 1024 * 1024

/** Calls `ws`'s `pause()` / `resume()` when it has them (the `ws` package does; browsers' WebSocket does not). */
const flowControl = (raw: globalThis.WebSocket, method: "pause" | "resume") => {
  const fn: unknown = Reflect.get(raw, method)
  if (typeof fn === "function") Reflect.apply(fn, raw, [])
}

/**
 * Completes once `raw` has at most SEND_HIGH_WATER bytes buffered: on the `drain` event of the
 * socket beneath `ws` when it can be reached, else by polling every millisecond.
 */
const drained = (raw: globalThis.WebSocket): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    if (raw.bufferedAmount <= SEND_HIGH_WATER) return resume(Effect.void)
    const socket: unknown = Reflect.get(raw, "_socket")
    if (!(socket instanceof EventEmitter)) return resume(Effect.zipRight(Effect.sleep("1 millis"), drained(raw)))
    const stop = () => {
      socket.off("drain", onDrain)
      socket.off("close", onClose)
    }
    // a closed socket has nothing left to drain: the next send reports the failure
    const onClose = () => {
      stop()
      resume(Effect.void)
    }
    const onDrain = () => {
      stop()
      resume(drained(raw))
    }
    socket.on("drain", onDrain)
    socket.on("close", onClose)
    return Effect.sync(stop)
  })

/** What waiting for the open of a connection that has closed fails with: one error, not a stack per connection. */
const closedBeforeOpen = new TransportError({ reason: "Closed", message: "closed" })

/** The TCP socket beneath a `ws` WebSocket, when it can be reached (the `ws` package keeps it as `_socket`). */
const tcpOf = (raw: globalThis.WebSocket): Duplex | undefined => {
  const socket: unknown = Reflect.get(raw, "_socket")
  return socket instanceof Duplex ? socket : undefined
}

/**
 * Frames sent in one turn of the event loop leave in one system call: the first send of a turn corks the
 * TCP socket, and it is uncorked once the turn's other work (the other envelopes of the batch, other
 * jobs' events) has run. Each frame was one `writev` before, a large share of an echo's CPU time. Not a
 * timer: `setImmediate` runs right after this turn's I/O, so nothing waits on the clock.
 */
const makeCorker = () => {
  let corked: Duplex | undefined
  const uncork = () => {
    const socket = corked
    corked = undefined
    socket?.uncork()
  }
  return (raw: globalThis.WebSocket) => {
    if (corked !== undefined) return
    const socket = tcpOf(raw)
    if (socket === undefined || socket.destroyed) return
    corked = socket
    socket.cork()
    setImmediate(uncork)
  }
}

/**
 * Adapts a platform `Socket` to a `Connection`; the socket runs until the scope closes.
 *
 * Frames are written straight to the underlying WebSocket (`raw`), not through the platform's writer:
 * that writer waits for the socket to be open, so once the peer has closed (or vanished) a send or a
 * close would wait forever. Here a send after the end fails at once (`Closed`) and a close is a no-op.
 * With the underlying WebSocket, sends can wait for its buffer to drain (`drain`) and reading pauses
 * while too many binary bytes wait to be taken: bounded memory both ways.
 */
export const fromSocket = (
  socket: Socket.Socket,
  raw: () => globalThis.WebSocket | undefined,
  options: { readonly label: string; readonly maxFrameBytes: number }
): Effect.Effect<
  { readonly connection: Connection; readonly opened: Effect.Effect<void, TransportError> },
  never,
  Scope.Scope
> =>
  Effect.gen(function*() {
    const mailbox = yield* Mailbox.make<Incoming, TransportError>()
    const opened = yield* Deferred.make<void, TransportError>()
    const max = options.maxFrameBytes
    let unread = 0
    let paused = false
    yield* socket.runRaw((data) => {
      if (typeof data === "string") return void mailbox.unsafeOffer(textFrame(data, max))
      unread += data.byteLength
      const ws = raw()
      if (ws !== undefined && !paused && unread > READ_HIGH_WATER) {
        paused = true
        flowControl(ws, "pause")
      }
      mailbox.unsafeOffer(binaryFrame(data, max))
    }, { onOpen: Deferred.succeed(opened, undefined) }).pipe(
      Effect.matchEffect({
        onSuccess: () => mailbox.end,
        onFailure: (cause) => {
          const error = new TransportError({ reason: "Read", message: `${options.label}: ${cause.message}`, cause })
          return Effect.zipRight(Deferred.fail(opened, error), mailbox.fail(error))
        }
      }),
      Effect.ensuring(
        Effect.zipRight(Deferred.fail(opened, closedBeforeOpen), mailbox.end)
      ),
      Effect.forkScoped
    )
    const closed = new TransportError({ reason: "Closed", message: `${options.label}: the connection is closed` })
    const cork = makeCorker()
    const connection: Connection = {
      label: options.label,
      binary: true,
      incoming: Mailbox.toStream(mailbox).pipe(Stream.tap((frame) =>
        Effect.sync(() => {
          if (frame._tag !== "Binary") return
          unread -= frame.data.byteLength
          const ws = raw()
          if (ws !== undefined && paused && unread < READ_HIGH_WATER / 2) {
            paused = false
            flowControl(ws, "resume")
          }
        })
      )),
      // what this end still holds for the peer (the runtime's outbound budget counts it)
      buffered: () => raw()?.bufferedAmount ?? 0,
      send: (frame) =>
        Effect.suspend(() => {
          const ws = raw()
          if (ws === undefined || ws.readyState !== OPEN) return Effect.fail(closed)
          return Effect.try({
            try: () => {
              cork(ws)
              ws.send(frame)
            },
            catch: (cause) =>
              new TransportError({ reason: "Write", message: `${options.label}: ${String(cause)}`, cause })
          })
        }),
      close: Effect.sync(() => {
        const ws = raw()
        if (ws !== undefined && ws.readyState <= OPEN) ws.close(1000, "closed")
      }),
      drain: Effect.suspend(() => {
        const ws = raw()
        return ws === undefined ? Effect.void : drained(ws)
      })
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
          // the server hands each handler its raw WebSocket as a service
          Effect.serviceOption(Socket.WebSocket).pipe(
            Effect.flatMap((ws) =>
              fromSocket(socket, () =>
                Option.getOrUndefined(ws), { label: `ws#${++next}`, maxFrameBytes })
            ),
            Effect.flatMap(({ connection }) => handler(connection)),
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
    const construct = yield* Socket.WebSocketConstructor
    let ws: globalThis.WebSocket | undefined
    const socket = yield* Socket.fromWebSocket(
      Effect.acquireRelease(
        Effect.try({
          try: () => {
            ws = construct(url)
            return ws
          },
          // a malformed URL throws in the constructor
          catch: (cause) => new Socket.SocketGenericError({ reason: "Open", cause })
        }),
        (opened) => Effect.sync(() => opened.close(1000))
      ),
      { openTimeout: options.openTimeout ?? 10_000 }
    )
    const { connection, opened } = yield* fromSocket(socket, () => ws, {
      label: url,
      maxFrameBytes: options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES * HARD_CAP_FACTOR
    })
    yield* opened
    return connection
  }).pipe(Effect.provide(NodeSocket.layerWebSocketConstructor))
