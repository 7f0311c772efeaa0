/**
 * Unix domain socket and Windows named pipe transport (RFC §4.1): a `node:net`
 * server on a path, one connection per client, newline-delimited JSON framing
 * (`Lines`, as stdio). File permissions are the access control: the socket is
 * created owner-only (0600) unless a mode is given; a stale socket file left
 * by a dead server is replaced, a live one is never stolen; the file is
 * removed on shutdown.
 */
import { Effect, Layer, type Scope } from "effect"
import * as fs from "node:fs"
import * as net from "node:net"
import { resolve } from "node:path"
import * as Accepting from "./internal/Accepting.js"
import * as Lines from "./Lines.js"
import { Acceptor, type Connection, DEFAULT_MAX_FRAME_BYTES, TransportError } from "./Transport.js"

export interface ServerOptions {
  /** The socket file (or `\\.\pipe\name` on Windows). */
  readonly path: string
  /** Permission bits of the socket file (default 0o600, owner only); ignored for named pipes. */
  readonly mode?: number | undefined
  readonly maxFrameBytes?: number | undefined
}

/** Owner read/write: only the server's user may connect. */
export const DEFAULT_MODE = 0o600

/** Windows named pipes live in their own namespace: no file to check, chmod or remove. */
export const isNamedPipe = (path: string): boolean => /^\\\\[.?]\\pipe\\/i.test(path)

/** The `unix://` URL of a socket path: `unix:///run/arcp.sock` (relative paths are made absolute). */
export const urlOf = (path: string): string => `unix://${isNamedPipe(path) ? path : resolve(path)}`

/** The socket path of a `unix://` URL; everything after the scheme is the path, taken as written. */
export const pathOf = (url: string): string => url.replace(/^unix:\/\//i, "")

const openError = (message: string, cause?: unknown) =>
  new TransportError({ reason: "Open", message, ...(cause === undefined ? {} : { cause }) })

/** Whether a server answers on `path`: true when a connection succeeds, false when refused (a dead socket). */
const answers = (path: string): Effect.Effect<boolean, TransportError> =>
  Effect.async<boolean, TransportError>((resume) => {
    const probe = net.createConnection({ path })
    probe.once("connect", () => {
      probe.destroy()
      resume(Effect.succeed(true))
    })
    probe.once("error", (error: NodeJS.ErrnoException) => {
      probe.destroy()
      if (error.code === "ECONNREFUSED" || error.code === "ENOENT") resume(Effect.succeed(false))
      else resume(Effect.fail(openError(`cannot probe the socket ${path}: ${error.message}`, error)))
    })
  })

/**
 * Clears the way for a new socket at `path`: nothing there is fine; a socket
 * nobody answers on is removed; a live server or any other kind of file is a
 * refusal.
 */
const clearStale = Effect.fnUntraced(function*(path: string) {
  const stat = yield* Effect.try({
    try: () => fs.lstatSync(path, { throwIfNoEntry: false }),
    catch: (e) => openError(`cannot inspect ${path}: ${String(e)}`, e)
  })
  if (stat === undefined) return
  if (!stat.isSocket()) {
    return yield* openError(`${path} exists and is not a socket: remove it or choose another --socket path`)
  }
  if (yield* answers(path)) {
    return yield* openError(`a server is already listening on ${path}: stop it or choose another --socket path`)
  }
  yield* Effect.try({
    try: () => fs.unlinkSync(path),
    catch: (e) => openError(`cannot remove the stale socket ${path}: ${String(e)}`, e)
  })
  yield* Effect.logInfo(`replaced a stale socket file at ${path} (no server answered on it)`)
})

/**
 * Binds under umask 0177 so the socket is owner-only from its first instant
 * (a chmod after listen would leave a window), then applies `mode`.
 */
const listen = (server: net.Server, path: string, mode: number): Effect.Effect<void, TransportError> =>
  Effect.async<void, TransportError>((resume) => {
    const onError = (error: Error) =>
      resume(Effect.fail(openError(`cannot listen on ${path}: ${error.message}`, error)))
    server.once("error", onError)
    const pipe = isNamedPipe(path)
    let previous: number | undefined
    try {
      previous = pipe ? undefined : process.umask(0o177)
    } catch {
      previous = undefined // worker threads cannot change the umask: the chmod below still applies the mode
    }
    try {
      server.listen({ path }, () => {
        server.off("error", onError)
        if (pipe) return resume(Effect.void)
        try {
          fs.chmodSync(path, mode)
          resume(Effect.void)
        } catch (e) {
          resume(Effect.fail(openError(`cannot set the mode of ${path}: ${String(e)}`, e)))
        }
      })
    } finally {
      if (previous !== undefined) process.umask(previous)
    }
  })

/** Removes the socket file on shutdown, unless another server has replaced it since (a different inode). */
const removeIfOurs = (path: string, inode: number | undefined) =>
  Effect.sync(() => {
    try {
      if (inode !== undefined && fs.lstatSync(path).ino === inode) fs.unlinkSync(path)
    } catch {
      // already gone
    }
  })

/** A connection over one accepted or dialled socket; the socket is destroyed with the scope. */
const fromSocket = (
  socket: net.Socket,
  label: string,
  maxFrameBytes: number
): Effect.Effect<Connection, never, Scope.Scope> =>
  Effect.acquireRelease(Effect.succeed(socket), (s) => Effect.sync(() => s.destroySoon())).pipe(
    Effect.zipRight(Lines.make({ input: socket, output: socket, label, maxFrameBytes }))
  )

const serve = Effect.fnUntraced(function*(options: ServerOptions) {
  const path = options.path
  const maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES
  const sockets = new Set<net.Socket>()
  let next = 0
  const accepting = yield* Accepting.make<net.Socket>({
    open: (socket) => fromSocket(socket, `unix#${++next}`, maxFrameBytes),
    refuse: (socket) => socket.destroy()
  })
  const server = net.createServer((socket) => {
    sockets.add(socket)
    // a peer resetting mid-write must not become an unhandled 'error' event
    socket.on("error", () => undefined)
    socket.once("close", () => sockets.delete(socket))
    accepting.offer(socket)
  })
  if (!isNamedPipe(path)) yield* clearStale(path)
  yield* Effect.acquireRelease(
    Effect.zipRight(
      listen(server, path, options.mode ?? DEFAULT_MODE),
      Effect.sync(() => (isNamedPipe(path) ? undefined : fs.lstatSync(path).ino))
    ),
    (inode) =>
      Effect.async<void>((resume) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resume(Effect.void))
      }).pipe(Effect.zipRight(removeIfOurs(path, inode)))
  )
  return Acceptor.of({ address: urlOf(path), run: accepting.run })
})

/** A Unix socket (or named pipe) server on `options.path`, closed and its file removed with the layer. */
export const layer = (options: ServerOptions): Layer.Layer<Acceptor, TransportError> =>
  Layer.scoped(Acceptor, serve(options))

/** Connects to the socket at `path` (or a `unix://` URL); the connection lives as long as the scope. */
export const connect = Effect.fnUntraced(function*(
  pathOrUrl: string,
  options: { readonly maxFrameBytes?: number | undefined } = {}
) {
  const path = pathOf(pathOrUrl)
  const socket = yield* Effect.async<net.Socket, TransportError>((resume) => {
    const s = net.createConnection({ path })
    const onError = (error: Error) => {
      s.destroy()
      resume(Effect.fail(openError(`cannot connect to ${path}: ${error.message}`, error)))
    }
    s.once("error", onError)
    s.once("connect", () => {
      s.off("error", onError)
      s.on("error", () => undefined) // reported through the connection's incoming stream instead
      resume(Effect.succeed(s))
    })
  })
  return yield* fromSocket(socket, urlOf(path), options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES * 16)
})
