/**
 * Serves the observer dashboard (the page built into dist/web) over plain HTTP on its own port, loopback by
 * default. It serves only the page's three files and `/config.json`, which tells the page where the
 * runtime's WebSocket listens; it holds no state and no credentials. Everything the page shows it gets as an
 * ARCP client of the runtime, with the rights of the token it signs in with.
 */
import { Data, Effect } from "effect"
import { existsSync, readFileSync } from "node:fs"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { gzipSync } from "node:zlib"

export class DashboardError extends Data.TaggedError("DashboardError")<{
  readonly message: string
  readonly code?: string | undefined
}> {}

export interface Options {
  readonly host: string
  readonly port: number
  /** The runtime's WebSocket port: the page connects there, on the host name it was loaded from. */
  readonly wsPort: number
  /** Where index.html, app.js and app.css are (default: dist/web of this package). */
  readonly assets?: string | undefined
}

export interface Dashboard {
  /** The page's address, e.g. `http://127.0.0.1:7780/`. */
  readonly url: string
  readonly port: number
}

export interface Asset {
  readonly type: string
  readonly body: Buffer
  /** The body gzipped, made on the first request that accepts it (not at start: ~20 ms of `arcp serve`'s start). */
  readonly gzipped: () => Buffer
}

const lazyGzip = (body: Buffer): () => Buffer => {
  let made: Buffer | undefined
  return () => (made ??= gzipSync(body))
}

const FILES: ReadonlyArray<readonly [path: string, file: string, type: string]> = [
  ["/", "index.html", "text/html; charset=utf-8"],
  ["/index.html", "index.html", "text/html; charset=utf-8"],
  ["/app.js", "app.js", "text/javascript; charset=utf-8"],
  ["/app.css", "app.css", "text/css; charset=utf-8"]
]

/**
 * dist/web from wherever this module runs: dist/arcp.cjs (the bundled CLI), dist/dashboard/*.js (tsc's
 * output) or src/dashboard/*.ts (tests run from the sources).
 */
export const defaultAssets = (): string => {
  const here = dirname(fileURLToPath(import.meta.url))
  const candidates = [join(here, "web"), join(here, "..", "web"), join(here, "..", "..", "dist", "web")]
  return candidates.find((dir) => existsSync(join(dir, "app.js"))) ?? join(here, "..", "..", "dist", "web")
}

export const load = (dir: string): Effect.Effect<ReadonlyMap<string, Asset>, DashboardError> =>
  Effect.try({
    try: () => {
      const byFile = new Map<string, Buffer>()
      for (const [, file] of FILES) if (!byFile.has(file)) byFile.set(file, readFileSync(join(dir, file)))
      return new Map(FILES.map(([path, file, type]): [string, Asset] => {
        const body = byFile.get(file) ?? Buffer.alloc(0)
        return [path, { type, body, gzipped: lazyGzip(body) }]
      }))
    },
    catch: () =>
      new DashboardError({ message: `the dashboard page is not built (no ${dir}/app.js): run npm run build` })
  })

/** The host a request named (Host header), without its port; the loopback address when it names none. */
const requestHost = (req: IncomingMessage): string => {
  const host = req.headers.host ?? "127.0.0.1"
  if (host.startsWith("[")) return host.slice(0, host.indexOf("]") + 1)
  const colon = host.lastIndexOf(":")
  return colon > 0 ? host.slice(0, colon) : host
}

/** Only hosts that are names or addresses: a forged Host header cannot inject into the config or the policy. */
const SAFE_HOST = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)$/

const headersFor = (wsOrigin: string) => ({
  "content-security-policy": [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    // the runtime the page was configured for, or any other the person signing in types
    `connect-src 'self' ${wsOrigin} ws: wss:`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'"
  ].join("; "),
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cross-origin-opener-policy": "same-origin"
})

/**
 * Answers one request for the page: `path` is the request's path below wherever the page is served ("/",
 * "/app.js", "/config.json"...), `wsUrl` the runtime's WebSocket the page's config names.
 */
export const respond = (
  assets: ReadonlyMap<string, Asset>,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  wsUrl: string
): void => {
  const headers = headersFor(wsUrl)
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(405, { ...headers, allow: "GET, HEAD", "content-type": "text/plain" }).end("method not allowed\n")
    return
  }
  if (path === "/config.json") {
    const body = JSON.stringify({ ws_url: wsUrl })
    res.writeHead(200, { ...headers, "content-type": "application/json", "cache-control": "no-store" })
    res.end(req.method === "HEAD" ? undefined : body)
    return
  }
  const asset = assets.get(path)
  if (asset === undefined) {
    res.writeHead(404, { ...headers, "content-type": "text/plain" }).end("not found\n")
    return
  }
  const gzip = /\bgzip\b/.test(String(req.headers["accept-encoding"] ?? ""))
  const body = gzip ? asset.gzipped() : asset.body
  res.writeHead(200, {
    ...headers,
    "content-type": asset.type,
    "content-length": String(body.length),
    "cache-control": "no-cache",
    vary: "accept-encoding",
    ...(gzip ? { "content-encoding": "gzip" } : {})
  })
  res.end(req.method === "HEAD" ? undefined : body)
}

const handler = (assets: ReadonlyMap<string, Asset>, wsPort: number) => (req: IncomingMessage, res: ServerResponse) => {
  const host = requestHost(req)
  const wsUrl = `ws://${SAFE_HOST.test(host) ? host : "127.0.0.1"}:${wsPort}`
  respond(assets, req, res, (req.url ?? "/").split("?")[0] ?? "/", wsUrl)
}

/** Starts the dashboard's HTTP server for the scope's lifetime. */
export const start = Effect.fnUntraced(function*(options: Options) {
  const assets = yield* load(options.assets ?? defaultAssets())
  const server = createServer(handler(assets, options.wsPort))
  // keep-alive sockets would hold the close open: drop them with the server
  yield* Effect.addFinalizer(() =>
    Effect.async<void>((resume) => {
      server.close(() => resume(Effect.void))
      server.closeAllConnections()
    })
  )
  const port = yield* Effect.async<number, DashboardError>((resume) => {
    server.once("error", (e: NodeJS.ErrnoException) =>
      resume(Effect.fail(
        new DashboardError({
          message: `cannot serve the dashboard on ${options.host}:${options.port}: ${e.message}`,
          code: e.code
        })
      )))
    server.listen(options.port, options.host, () => {
      const address = server.address()
      resume(
        Effect.succeed(
          typeof address === "object" && address !== null ? (address satisfies AddressInfo).port : options.port
        )
      )
    })
  })
  const host = options.host.includes(":") ? `[${options.host}]` : options.host
  return { url: `http://${host}:${port}/`, port }
})
