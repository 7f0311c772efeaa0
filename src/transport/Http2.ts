/**
 * HTTP/2 transport (RFC §4.1, §22 recommended): one bidirectional stream per
 * connection — the client POSTs to `/arcp` and keeps the request body open;
 * the server answers 200 at once and keeps the response body open. Both
 * bodies carry newline-delimited JSON (`Lines`, as stdio), so binary data
 * travels base64 in the envelope (R22-3). TLS (`https://`) with a certificate
 * and key, or cleartext h2c (`http://`) for loopback and tests.
 */
import { type Duration, Effect, Layer, type Scope } from "effect"
import * as http2 from "node:http2"
import * as Accepting from "./internal/Accepting.js"
import * as Lines from "./Lines.js"
import * as Tls from "./Tls.js"
import { Acceptor, type Connection, DEFAULT_MAX_FRAME_BYTES, TransportError } from "./Transport.js"

/** The request path a session's stream is opened on (a URL with its own path overrides it on the client). */
export const DEFAULT_PATH = "/arcp"

/** The media type of both bodies. */
export const CONTENT_TYPE = "application/x-ndjson"

export interface ServerOptions {
  readonly host?: string | undefined
  readonly port?: number | undefined
  /** PEM certificate and key: serve `https://` (h2 over TLS, client certificates when asked); without them, cleartext h2c on `http://`. */
  readonly tls?: Tls.ServerTls | undefined
  readonly path?: string | undefined
  readonly maxFrameBytes?: number | undefined
}

/** Streams (sessions) one HTTP/2 connection may have open at once. */
const MAX_STREAMS_PER_CONNECTION = 100

/** How long a closing stream waits for the client to end its half before it is reset (NO_ERROR). */
const HALF_CLOSE_GRACE = "1 second"

const openError = (message: string, cause?: unknown) =>
  new TransportError({ reason: "Open", message, ...(cause === undefined ? {} : { cause }) })

/** Ends our half of `stream`, waits briefly for the peer's, then resets it so no stream outlives its connection. */
const finish = (stream: http2.Http2Stream): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    if (stream.closed || stream.destroyed) return resume(Effect.void)
    const onClose = () => resume(Effect.void)
    stream.once("close", onClose)
    if (!stream.writableEnded) stream.end()
    return Effect.sync(() => stream.off("close", onClose))
  }).pipe(
    Effect.timeoutTo({ duration: HALF_CLOSE_GRACE, onSuccess: () => Effect.void, onTimeout: () => Effect.void }),
    Effect.zipRight(Effect.sync(() => {
      if (!stream.closed) stream.close(http2.constants.NGHTTP2_NO_ERROR)
    }))
  )

/**
 * A connection over one stream. As a socket without half-open support, when
 * the peer ends its half we end ours: a connection is over when either side
 * is done, and neither waits on the other to notice.
 */
const fromStream = (stream: http2.Http2Stream, label: string, maxFrameBytes: number) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      stream.once("end", () => {
        if (!stream.writableEnded) stream.end()
      })
      return stream
    }),
    finish
  ).pipe(
    Effect.zipRight(Lines.make({ input: stream, output: stream, label, maxFrameBytes }))
  )

/** Answers a request that is not a session stream, and ends it. */
const refuse = (stream: http2.ServerHttp2Stream, status: number, headers: http2.OutgoingHttpHeaders = {}) => {
  if (stream.closed || stream.destroyed) return
  stream.respond({ ":status": status, ...headers }, { endStream: true })
}

const serve = Effect.fnUntraced(function*(options: ServerOptions) {
  const host = options.host ?? "127.0.0.1"
  const path = options.path ?? DEFAULT_PATH
  const maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES
  const settings = { maxConcurrentStreams: MAX_STREAMS_PER_CONNECTION }
  const secure = options.tls === undefined
    ? undefined
    : http2.createSecureServer({ settings, ...Tls.serverOptions(options.tls), allowHTTP1: false })
  const server = secure ?? http2.createServer({ settings })
  const sessions = new Set<http2.ServerHttp2Session>()
  let next = 0
  const accepting = yield* Accepting.make<http2.ServerHttp2Stream>({
    open: (stream) =>
      Effect.map(
        fromStream(stream, `http2#${++next}`, maxFrameBytes),
        (connection): Connection => ({ ...connection, peer: Tls.peerOf(stream.session?.socket) })
      ),
    refuse: (stream) => stream.close(http2.constants.NGHTTP2_REFUSED_STREAM)
  })
  server.on("session", (session) => {
    sessions.add(session)
    session.on("error", () => undefined) // a peer resetting its connection is that connection's end, not ours
    session.once("close", () => sessions.delete(session))
  })
  server.on("stream", (stream, headers) => {
    stream.on("error", () => undefined)
    if (headers[":path"] !== path) return refuse(stream, 404)
    if (headers[":method"] !== "POST") return refuse(stream, 405, { allow: "POST" })
    stream.respond({ ":status": 200, "content-type": CONTENT_TYPE, "cache-control": "no-store" })
    accepting.offer(stream)
  })
  const port = yield* Effect.acquireRelease(
    Effect.async<number, TransportError>((resume) => {
      const onError = (error: Error) =>
        resume(Effect.fail(openError(`cannot listen on ${host}:${options.port ?? 7778}: ${error.message}`, error)))
      server.once("error", onError)
      server.listen(options.port ?? 7778, host, () => {
        server.off("error", onError)
        const address = server.address()
        resume(Effect.succeed(typeof address === "object" && address !== null ? address.port : 0))
      })
    }),
    () =>
      Effect.async<void>((resume) => {
        for (const session of sessions) session.close()
        server.close(() => resume(Effect.void))
      }).pipe(
        // a peer that keeps a stream open past the grace is cut
        Effect.timeoutTo({ duration: "2 seconds", onSuccess: () => Effect.void, onTimeout: () => Effect.void }),
        Effect.zipRight(Effect.sync(() => {
          for (const session of sessions) session.destroy()
        }))
      )
  )
  server.on("error", () => undefined)
  if (secure !== undefined) yield* Tls.rotate(secure, options.tls)
  const scheme = options.tls === undefined ? "http" : "https"
  const hostInUrl = host.includes(":") && !host.startsWith("[") ? `[${host}]` : host // IPv6 literals are bracketed
  return Acceptor.of({ address: `${scheme}://${hostInUrl}:${port}`, run: accepting.run })
})

/** An HTTP/2 server on `host:port` (127.0.0.1:7778 by default; port 0 picks a free one). */
export const layer = (options: ServerOptions = {}): Layer.Layer<Acceptor, TransportError> =>
  Layer.scoped(Acceptor, serve(options))

export interface ConnectOptions {
  readonly maxFrameBytes?: number | undefined
  /** Extra trusted certificates (PEM), e.g. a self-signed server's own. */
  readonly ca?: string | Buffer | undefined
  /** CAs to trust and a client certificate and key (mutual TLS); `ca` above adds to these. */
  readonly tls?: Tls.ClientTls | undefined
  /** How long connecting may take (default 10 s, as for WebSocket). */
  readonly openTimeout?: Duration.DurationInput | undefined
}

/** Opens the HTTP/2 connection to `origin`, closed with the scope. */
const openSession = (origin: string, options: ConnectOptions) =>
  Effect.acquireRelease(
    Effect.async<http2.ClientHttp2Session, TransportError>((resume) => {
      const session = http2.connect(origin, {
        ...Tls.clientOptions(options.tls),
        ...(options.ca === undefined ? {} : { ca: options.ca })
      })
      const onError = (error: Error) => {
        session.destroy()
        resume(Effect.fail(openError(`cannot connect to ${origin}: ${error.message}`, error)))
      }
      session.once("error", onError)
      session.once("connect", () => {
        session.off("error", onError)
        session.on("error", () => undefined) // later failures end the stream, which the connection reports
        resume(Effect.succeed(session))
      })
      // given up (the open timeout): nothing is left half-open
      return Effect.sync(() => session.destroy())
    }).pipe(Effect.interruptible),
    (session) => Effect.sync(() => session.close())
  )

/** Opens the session stream and waits for the server's 200. */
const openStream = (session: http2.ClientHttp2Session, url: string, path: string) =>
  Effect.async<http2.ClientHttp2Stream, TransportError>((resume) => {
    const stream = session.request({ ":method": "POST", ":path": path, "content-type": CONTENT_TYPE })
    const fail = (message: string, cause?: unknown) => {
      stream.close(http2.constants.NGHTTP2_CANCEL)
      resume(Effect.fail(openError(`${url}: ${message}`, cause)))
    }
    const onError = (error: Error) => fail(error.message, error)
    const onClose = () => fail("the stream closed before the server answered")
    stream.once("error", onError)
    stream.once("close", onClose)
    stream.once("response", (headers) => {
      stream.off("error", onError)
      stream.off("close", onClose)
      stream.on("error", () => undefined)
      const status = headers[":status"]
      if (status === 200) resume(Effect.succeed(stream))
      else fail(`the server answered HTTP ${status ?? "?"} (is it an ARCP runtime serving HTTP/2 on ${path}?)`)
    })
    return Effect.sync(() => stream.close(http2.constants.NGHTTP2_CANCEL))
  })

/** Connects to an HTTP/2 runtime at `http://host:port` (h2c) or `https://host:port`; lives as long as the scope. */
export const connect = (
  url: string,
  options: ConnectOptions = {}
): Effect.Effect<Connection, TransportError, Scope.Scope> =>
  Effect.gen(function*() {
    const parsed = yield* Effect.try({
      try: () => new URL(url),
      catch: (e) => openError(`not a URL: ${url}`, e)
    })
    const path = parsed.pathname === "/" || parsed.pathname === "" ? DEFAULT_PATH : parsed.pathname
    const session = yield* openSession(parsed.origin, options)
    const stream = yield* openStream(session, url, path)
    return yield* fromStream(stream, url, options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES * 16)
  }).pipe(
    Effect.timeoutFail({
      duration: options.openTimeout ?? "10 seconds",
      onTimeout: () => openError(`${url}: no HTTP/2 answer within the open timeout`)
    })
  )
