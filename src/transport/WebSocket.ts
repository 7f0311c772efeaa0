/**
 * WebSocket transport (RFC §22, mandatory): a listening server (an `Acceptor`), `ws://` or, with
 * a certificate, `wss://` (client certificates asked for when configured), and a client `connect`.
 * Text frames carry envelopes; binary frames carry sidecar data (§11.3). The server takes the
 * upgrade requests of its own HTTP(S) server through `WebSocketUpgrade`, as `attach` does on an
 * application's server.
 */
import { Effect, Layer, type Scope } from "effect"
import * as http from "node:http"
import * as https from "node:https"
import { WebSocket as WsClient } from "ws"
import { fromSocket, fromWs } from "./internal/WebSocketConnection.js"
import * as Tls from "./Tls.js"
import { Acceptor, DEFAULT_MAX_FRAME_BYTES, TransportError } from "./Transport.js"
import * as WebSocketUpgrade from "./WebSocketUpgrade.js"

export { fromSocket }

export interface ServerOptions {
  readonly host?: string | undefined
  readonly port?: number | undefined
  readonly path?: string | undefined
  readonly maxFrameBytes?: number | undefined
  /** Serve `wss://` with this certificate (and ask for client certificates when configured). */
  readonly tls?: Tls.ServerTls | undefined
}

const openError = (message: string, cause?: unknown) =>
  new TransportError({ reason: "Open", message, ...(cause === undefined ? {} : { cause }) })

/** Plain HTTP requests to a WebSocket-only server are told what it speaks. */
const answerPlainRequest = (_request: http.IncomingMessage, response: http.ServerResponse) => {
  response.writeHead(426, { "content-type": "text/plain", upgrade: "websocket", connection: "Upgrade" })
  response.end("this is an ARCP runtime: connect with a WebSocket client\n")
}

/** Starts `server` listening on host:port for the life of the scope; its port. */
export const listenScoped = (
  server: http.Server,
  host: string,
  port: number
): Effect.Effect<number, TransportError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<number, TransportError>((resume) => {
      const onError = (error: Error) => resume(Effect.fail(openError(`cannot listen: ${error.message}`, error)))
      server.once("error", onError)
      server.listen(port, host, () => {
        server.off("error", onError)
        server.on("error", () => undefined)
        const address = server.address()
        resume(Effect.succeed(typeof address === "object" && address !== null ? address.port : 0))
      })
    }),
    () =>
      Effect.async<void>((resume) => {
        server.close(() => resume(Effect.void))
        server.closeAllConnections()
      })
  )

const listen = Effect.fnUntraced(function*(options: ServerOptions) {
  const host = options.host ?? "127.0.0.1"
  const maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES
  const tls = options.tls
  const server = tls === undefined
    ? http.createServer(answerPlainRequest)
    : https.createServer(Tls.serverOptions(tls), answerPlainRequest)
  // a client whose TLS handshake fails (no or a bad certificate under `require`) is that client's end
  server.on("tlsClientError", () => undefined)
  const scheme = tls === undefined ? "ws" : "wss"
  const upgrader = yield* WebSocketUpgrade.make({ path: options.path, maxFrameBytes, label: scheme })
  yield* WebSocketUpgrade.listenOn(server, upgrader, true)
  const port = yield* listenScoped(server, host, options.port ?? 7777)
  // before the server closes (which waits for its sockets): its upgraded sockets go first
  yield* Effect.addFinalizer(() => upgrader.closeAll)
  if (server instanceof https.Server) yield* Tls.rotate(server, tls)
  const hostInUrl = host.includes(":") && !host.startsWith("[") ? `[${host}]` : host // IPv6 literals are bracketed
  return Acceptor.of({ address: `${scheme}://${hostInUrl}:${port}${options.path ?? ""}`, run: upgrader.run })
})

/** A WebSocket server on `host:port` (127.0.0.1:7777 by default; port 0 picks a free one), `wss://` with `tls`. */
export const layer = (options: ServerOptions = {}): Layer.Layer<Acceptor, TransportError> =>
  Layer.scoped(Acceptor, listen(options))

/**
 * The runtime's WebSocket endpoint on an application's own HTTP(S) server (`node:http`, `node:https`,
 * Express's `app.listen()`, Fastify's `fastify.server`, `@hono/node-server`'s `serve()`): upgrades of
 * `path` are ARCP sessions, others are left to the application. The server is the application's: it is
 * not closed with the layer; the listener is removed and the sessions closed.
 */
export const attachLayer = (
  server: WebSocketUpgrade.UpgradeSource,
  options: { readonly path: string; readonly maxFrameBytes?: number | undefined; readonly address?: string }
): Layer.Layer<Acceptor> =>
  Layer.scoped(
    Acceptor,
    Effect.gen(function*() {
      const upgrader = yield* WebSocketUpgrade.make({
        path: options.path,
        maxFrameBytes: options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
        label: "attached"
      })
      yield* WebSocketUpgrade.listenOn(server, upgrader, false)
      return Acceptor.of({ address: options.address ?? `attached:${options.path}`, run: upgrader.run })
    })
  )

export interface ConnectOptions {
  readonly maxFrameBytes?: number | undefined
  readonly openTimeout?: number | undefined
  /** For `wss://`: CAs to trust, and a client certificate and key (mutual TLS). */
  readonly tls?: Tls.ClientTls | undefined
}

/** Connects to a WebSocket server; the connection lives as long as the scope. */
export const connect = Effect.fnUntraced(function*(
  url: string,
  options: ConnectOptions = {}
) {
  const ws = yield* Effect.try({
    try: () => new WsClient(url, { ...Tls.clientOptions(options.tls), perMessageDeflate: false }),
    // a malformed URL throws in the constructor
    catch: (cause) => new TransportError({ reason: "Open", message: `${url}: ${String(cause)}`, cause })
  })
  const { connection, opened } = yield* fromWs(ws, {
    label: url,
    maxFrameBytes: options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES * WebSocketUpgrade.HARD_CAP_FACTOR,
    openTimeout: options.openTimeout ?? 10_000
  })
  yield* opened
  return connection
})
