/**
 * ARCP over WebSocket from the `upgrade` requests of a Node HTTP(S) server: the runtime's own
 * (`ws://`, `wss://`) or an application's, on a path (`attach`). Each upgraded socket becomes a
 * `Connection` carrying what TLS proved about the peer (mtls, §8.2).
 */
import { type Context, Effect, type Scope } from "effect"
import type { IncomingMessage } from "node:http"
import type { Duplex } from "node:stream"
import { type WebSocket as Ws, WebSocketServer } from "ws"
import * as Accepting from "./internal/Accepting.js"
import { fromWs } from "./internal/WebSocketConnection.js"
import { type Peer, peerOf } from "./Tls.js"
import type { Acceptor, Connection } from "./Transport.js"

/** Frames above the limit are answered by the runtime; only those above this multiple make `ws` close (1009). */
export const HARD_CAP_FACTOR = 16

export interface UpgradeOptions {
  /** Only upgrades of this exact path are taken (default: any path). */
  readonly path?: string | undefined
  readonly maxFrameBytes: number
  /** Names the connections in logs: `<label>#n`. */
  readonly label: string
}

export interface Upgrader {
  /** Takes an upgrade request whose path is ours: true when taken, false to leave it to someone else. */
  readonly handle: (request: IncomingMessage, socket: Duplex, head: Buffer) => boolean
  readonly run: Context.Tag.Service<Acceptor>["run"]
  /** Cuts every open connection (the server it came through is closing). */
  readonly closeAll: Effect.Effect<void>
}

/** An HTTP server's `upgrade` event, structurally: Node's `http.Server`, `https.Server`, Fastify's `server`... */
export interface UpgradeSource {
  on(event: "upgrade", listener: (request: IncomingMessage, socket: Duplex, head: Buffer) => void): unknown
  off(event: "upgrade", listener: (request: IncomingMessage, socket: Duplex, head: Buffer) => void): unknown
}

const ignoreError = () => undefined

/** The path of a request URL, without its query. */
export const pathOf = (request: IncomingMessage): string => {
  const url = request.url ?? "/"
  const query = url.indexOf("?")
  return query < 0 ? url : url.slice(0, query)
}

/** An upgrader for the life of the scope; closing the scope closes its connections. */
export const make = Effect.fnUntraced(function*(options: UpgradeOptions) {
  const wss = yield* Effect.acquireRelease(
    Effect.sync(() =>
      new WebSocketServer({
        noServer: true,
        maxPayload: options.maxFrameBytes * HARD_CAP_FACTOR,
        perMessageDeflate: false
      })
    ),
    (server) =>
      Effect.sync(() => {
        for (const client of server.clients) client.terminate()
        server.close()
      })
  )
  const closeAll = Effect.sync(() => {
    for (const client of wss.clients) client.terminate()
  })
  let next = 0
  // what a connection keeps of its upgrade: the socket and what TLS proved, not the request (headers and all)
  const open = Effect.fnUntraced(function*({ peer, ws }: { readonly ws: Ws; readonly peer: Peer }) {
    const { connection } = yield* fromWs(ws, {
      label: `${options.label}#${++next}`,
      maxFrameBytes: options.maxFrameBytes
    })
    // its listeners are on: what the peer sent since the upgrade is read now (see `handle`)
    ws.resume()
    return { ...connection, peer } satisfies Connection
  })
  const accepting = yield* Accepting.make<{ readonly ws: Ws; readonly peer: Peer }>({
    open,
    refuse: ({ ws }) => {
      // read again, so the closing handshake completes (nothing listens for what it reads)
      ws.resume()
      ws.close(1013, "the runtime is busy; try again later")
    }
  })
  return {
    handle: (request, socket, head) => {
      if (options.path !== undefined && pathOf(request) !== options.path) return false
      // an error on the raw socket before the upgrade completes is that peer's end, not ours (a listener made
      // here would share this call's closure context, and keep the request, headers and all, for the socket's life)
      socket.on("error", ignoreError)
      const peer = peerOf(request.socket)
      wss.handleUpgrade(request, socket, head, (ws) => {
        // not read until the connection is served: `ws` emits a frame whether or not anyone listens, so one sent
        // while the connection waits (in the backlog of a runtime still starting) would be lost
        ws.pause()
        accepting.offer({ ws, peer })
      })
      return true
    },
    run: accepting.run,
    closeAll
  } satisfies Upgrader
})

/**
 * Listens for upgrades on `server` for the life of the scope. Requests for other paths are left
 * to the server's other `upgrade` listeners, or (`answerOthers`) refused 404 when it is ours alone.
 */
export const listenOn = (
  server: UpgradeSource,
  upgrader: Upgrader,
  answerOthers: boolean
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const listener = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
        if (upgrader.handle(request, socket, head) || !answerOthers) return
        socket.on("error", () => undefined)
        socket.end("HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
      }
      server.on("upgrade", listener)
      return listener
    }),
    (listener) => Effect.sync(() => server.off("upgrade", listener))
  ).pipe(Effect.asVoid)
