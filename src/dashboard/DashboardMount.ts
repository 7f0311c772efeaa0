/**
 * The observer dashboard under a path of an application's own HTTP(S) server, beside a runtime mounted there
 * with `attach`: requests below the path get the page, whose config names the runtime's WebSocket on the same
 * server (wss when the page came over TLS); every other request stays the application's.
 */
import { Effect } from "effect"
import type { IncomingMessage, ServerResponse } from "node:http"
import { type Asset, type DashboardError, defaultAssets, load, respond } from "./DashboardServer.js"

export interface MountOptions {
  /** Where the page is served, e.g. "/dashboard": its files are below "/dashboard/". */
  readonly path: string
  /** The path the runtime's WebSocket is mounted on (`attach`'s `path`), e.g. "/arcp". */
  readonly arcpPath: string
  /** Where index.html, app.js and app.css are (default: dist/web of this package). */
  readonly assets?: string | undefined
}

/** Express/Connect-style: answers requests below the path, hands the rest to `next` (404 without one). */
export type DashboardHandler = (req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void) => void

/** An HTTP server's `request` event, structurally: Node's `http.Server`, `https.Server`, Fastify's `server`... */
export interface RequestSource {
  on(event: "request", listener: (req: IncomingMessage, res: ServerResponse) => void): unknown
  off(event: "request", listener: (req: IncomingMessage, res: ServerResponse) => void): unknown
  listeners(event: "request"): ReadonlyArray<unknown>
}

/** Host header with its port, only when it is a name or address: a forged one cannot inject into the config. */
const SAFE_HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/

const isTls = (req: IncomingMessage): boolean => Reflect.get(req.socket, "encrypted") === true

/** The runtime's WebSocket as the browser that sent `req` reaches it: same host, same scheme as the page. */
const wsUrlFor = (req: IncomingMessage, arcpPath: string, local: string): string => {
  const host = req.headers.host ?? ""
  return `${isTls(req) ? "wss" : "ws"}://${SAFE_HOST_PORT.test(host) ? host : local}${arcpPath}`
}

const localAddress = (req: IncomingMessage): string => {
  const address = req.socket.localAddress ?? "127.0.0.1"
  const host = address.includes(":") ? `[${address}]` : address
  return `${host}:${req.socket.localPort ?? 80}`
}

const normalise = (path: string): string => {
  const trimmed = path.replace(/\/+$/, "")
  return trimmed.startsWith("/") ? trimmed : `/${trimmed}`
}

type Listener = (req: IncomingMessage, res: ServerResponse) => void
const isListener = (value: unknown): value is Listener => typeof value === "function"

const route = (
  assets: ReadonlyMap<string, Asset>,
  options: MountOptions
): (req: IncomingMessage, res: ServerResponse) => boolean => {
  const prefix = normalise(options.path)
  const arcpPath = normalise(options.arcpPath)
  return (req, res) => {
    const url = req.url ?? "/"
    const query = url.indexOf("?")
    const path = query < 0 ? url : url.slice(0, query)
    if (path === prefix) {
      // the page's URLs are relative: below the path they must resolve under it
      res.writeHead(308, { location: `${prefix}/${query < 0 ? "" : url.slice(query)}` }).end()
      return true
    }
    if (!path.startsWith(`${prefix}/`)) return false
    respond(assets, req, res, path.slice(prefix.length), wsUrlFor(req, arcpPath, localAddress(req)))
    return true
  }
}

/** A middleware-style handler for the dashboard below `options.path` (Express, Connect, Fastify's middie...). */
export const handler = (options: MountOptions): Effect.Effect<DashboardHandler, DashboardError> =>
  Effect.map(load(options.assets ?? defaultAssets()), (assets) => {
    const take = route(assets, options)
    return (req, res, next) => {
      if (take(req, res)) return
      if (next !== undefined) next()
      else res.writeHead(404, { "content-type": "text/plain" }).end("not found\n")
    }
  })

/**
 * Mounts the dashboard on `server` for the scope's lifetime. The server's `request` listeners are wrapped (as
 * engine.io does): requests below the path never reach them, the rest do as before; closing the scope puts
 * them back.
 */
export const attach = Effect.fnUntraced(function*(
  server: RequestSource,
  options: MountOptions
) {
  const assets = yield* load(options.assets ?? defaultAssets())
  const take = route(assets, options)
  yield* Effect.acquireRelease(
    Effect.sync(() => {
      const originals = server.listeners("request").filter(isListener)
      const listener = (req: IncomingMessage, res: ServerResponse) => {
        if (take(req, res)) return
        if (originals.length === 0) res.writeHead(404, { "content-type": "text/plain" }).end("not found\n")
        for (const original of originals) original.call(server, req, res)
      }
      for (const original of originals) server.off("request", original)
      server.on("request", listener)
      return { listener, originals }
    }),
    ({ listener, originals }) =>
      Effect.sync(() => {
        server.off("request", listener)
        for (const original of originals) server.on("request", original)
      })
  )
})
