/**
 * A WebSocket (the platform's `Socket` over a `ws` or standard WebSocket) as a `Connection`: text
 * frames carry envelopes, binary frames sidecar data (§11.3); sends wait on the socket's buffer and
 * reading pauses while binary bytes pile up, so memory is bounded both ways. Shared by the server
 * (own port or attached to an application's server) and the client.
 */
import type * as Socket from "@effect/platform/Socket"
import { Chunk, Deferred, Duration, Effect, Exit, Mailbox, Option, type Scope, Stream } from "effect"
import { EventEmitter } from "node:events"
import { Duplex } from "node:stream"
import { TLSSocket } from "node:tls"
import type { WebSocket as Ws } from "ws"
import { onClose as onScopeClose } from "../../internal/OnClose.js"
import { binaryFrame, type Connection, type Incoming, textFrame, TransportError } from "../Transport.js"

/** `WebSocket.CONNECTING` and `OPEN`: a frame can be sent only in the latter. */
const CONNECTING = 0
const OPEN = 1

/** Bytes a socket may buffer for sending before `drain` makes a sender wait (sidecar transfers). */
const SEND_HIGH_WATER = 1024 * 1024
/** Binary bytes read but not yet taken by the connection before reading pauses (and resumes below half). */
const READ_HIGH_WATER = 4 * 1024 * 1024

/** Calls `ws`'s `pause()` / `resume()` when it has them (the `ws` package does; browsers' WebSocket does not). */
const flowControl = (raw: object, method: "pause" | "resume") => {
  const fn: unknown = Reflect.get(raw, method)
  if (typeof fn === "function") Reflect.apply(fn, raw, [])
}

/**
 * Completes once `raw` has at most SEND_HIGH_WATER bytes buffered: on the `drain` event of the
 * socket beneath `ws` when it can be reached, else by polling every millisecond.
 */
const drained = (raw: { readonly bufferedAmount: number }): Effect.Effect<void> =>
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

/** Builds an error without capturing a stack (capturing one is most of an error's cost). */
const withoutStack = <A>(make: () => A): A => {
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  try {
    return make()
  } finally {
    Error.stackTraceLimit = limit
  }
}

/** What waiting for the open of a connection that has closed fails with: one error, not a stack per connection. */
const closedBeforeOpen = new TransportError({ reason: "Closed", message: "closed" })

/** The TCP socket beneath a `ws` WebSocket, when it can be reached (the `ws` package keeps it as `_socket`). */
const tcpOf = (raw: object): Duplex | undefined => {
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
  const cork = (raw: object) => {
    if (corked !== undefined) return
    const socket = tcpOf(raw)
    // TLS sockets are not corked: a wss:// shutdown destroys them without a close, which would drop the corked frames
    if (socket === undefined || socket.destroyed || socket instanceof TLSSocket) return
    corked = socket
    socket.cork()
    setImmediate(uncork)
  }
  // `flush` writes what is corked now: before a close, so the last frames (an eviction) go out first
  return { cork, flush: uncork }
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
    const { cork, flush } = makeCorker()
    // whatever ends this connection, the frames already sent leave before the socket does
    yield* Effect.addFinalizer(() => Effect.sync(flush))
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
        flush()
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

/** What `receive` returns once the connection has ended. */
const noFrames: ReadonlyArray<Incoming> = []

/**
 * Close codes that end a connection cleanly (normal closure, a close frame with no code — what a bare
 * `ws.close()` sends —, or the peer simply gone): the stream ends, with no error built (issue 12).
 */
const isCleanClose = (code: number) => code === 1000 || code === 1005 || code === 1006

/**
 * A `ws` WebSocket as a `Connection`, straight on its events: no fiber, scope or latch per connection
 * (an idle session's memory was mostly such machinery, issue 12). What `fromSocket` does, for the
 * server's upgraded sockets and the client's: frames to a mailbox (binary ones flow-controlled), sends
 * corked per turn, a send after the end fails `Closed` at once, and the scope's end closes the socket.
 * A socket still connecting (the client) is awaited up to `openTimeout` by `opened`.
 */
export const fromWs = Effect.fnUntraced(function*(
  ws: Ws,
  options: {
    readonly label: string
    readonly maxFrameBytes: number
    readonly openTimeout?: Duration.DurationInput | undefined
  }
) {
  const max = options.maxFrameBytes
  const { label } = options
  let unread = 0
  let paused = false
  let opened: Deferred.Deferred<void, TransportError> | undefined
  // frames received and not yet read, how the socket ended (once it has), and the reader waiting for either:
  // plain fields rather than a Mailbox, so an idle connection holds a few words (issue 12)
  let frames: Array<Incoming> = []
  let end: Exit.Exit<void, TransportError> | undefined
  let waiting: (() => void) | undefined
  const wake = () => {
    const reader = waiting
    waiting = undefined
    reader?.()
  }
  const finish = (exit: Exit.Exit<void, TransportError>) => {
    end ??= exit
    wake()
  }
  const onMessage = (data: Buffer | ArrayBuffer | Array<Buffer>, isBinary: boolean) => {
    const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data)
    if (end !== undefined) return
    if (!isBinary) frames.push(textFrame(bytes.toString("utf8"), max))
    else {
      unread += bytes.byteLength
      if (!paused && unread > READ_HIGH_WATER) {
        paused = true
        ws.pause()
      }
      frames.push(binaryFrame(bytes, max))
    }
    wake()
  }
  // the error listener stays: `ws` may still report one (an aborted connect) after we stopped listening
  let ended = false
  const stop = () => {
    ended = true
    ws.off("message", onMessage)
    ws.off("close", onClose)
    ws.off("open", onOpen)
  }
  const onClose = (code: number, reason: Buffer) => {
    stop()
    if (opened !== undefined) Deferred.unsafeDone(opened, Effect.fail(closedBeforeOpen))
    if (isCleanClose(code)) return finish(Exit.void)
    const message = `${label}: closed with code ${code}${reason.length > 0 ? ` (${reason.toString()})` : ""}`
    // the peer's close, not a fault here: no stack, and fields known valid
    finish(Exit.fail(withoutStack(() => new TransportError({ reason: "Read", message }, true))))
  }
  const onError = (cause: Error) => {
    if (ended) return
    stop()
    const error = new TransportError({
      reason: opened === undefined ? "Read" : "Open",
      message: `${label}: ${cause.message}`,
      cause
    })
    if (opened !== undefined) Deferred.unsafeDone(opened, Effect.fail(error))
    finish(Exit.fail(error))
  }
  const onOpen = () => {
    if (opened !== undefined) Deferred.unsafeDone(opened, Effect.void)
    opened = undefined
  }
  ws.on("message", onMessage)
  ws.on("close", onClose)
  ws.on("error", onError)
  if (ws.readyState === CONNECTING) {
    opened = yield* Deferred.make<void, TransportError>()
    ws.once("open", onOpen)
  }
  const { cork, flush } = makeCorker()
  yield* onScopeClose(() => {
    // whatever ends this connection, the frames already sent leave before the socket does
    flush()
    stop()
    if (ws.readyState <= OPEN) ws.close(1000)
    finish(Exit.void)
  })
  // built once, when first needed, and without a stack: a send racing the peer's close is ordinary (a client
  // that sends session.close and closes at once gets its ack written to a closing socket), not a bug to trace
  let closedError: TransportError | undefined
  const closed = () =>
    closedError ??= withoutStack(() =>
      // fields known valid: no validation pass either
      new TransportError({ reason: "Closed", message: `${label}: the connection is closed` }, true)
    )
  /** What is there to read now: the frames waiting (binary bytes handed over resume a paused socket), or the end. */
  const poll = (): Effect.Effect<ReadonlyArray<Incoming>, TransportError> | undefined => {
    if (frames.length === 0) return end === undefined ? undefined : Effect.map(end, () => noFrames)
    const batch = frames
    frames = []
    for (const frame of batch) {
      if (frame._tag !== "Binary") continue
      unread -= frame.data.byteLength
      if (paused && unread < READ_HIGH_WATER / 2) {
        paused = false
        ws.resume()
      }
    }
    return Effect.succeed(batch)
  }
  // No canceler (it is an `onInterrupt` region: three frames on an idle connection's fiber, issue 12). A reader
  // interrupted while it waits leaves its callback behind, which the next wake calls to no effect (a fiber ignores a
  // resume after its interruption) and the next reader replaces; what it resumes with polls only when it runs, on
  // a live reader, so no frame is ever taken by a reader that is gone.
  const receive: Effect.Effect<ReadonlyArray<Incoming>, TransportError> = Effect.async((resume) => {
    const now = poll()
    if (now !== undefined) return resume(now)
    waiting = () => resume(readAgain)
  })
  const readAgain = Effect.suspend(() => poll() ?? receive)
  const connection: Connection = {
    label,
    binary: true,
    // built when read (the runtime reads through `receive`: an idle session holds no stream)
    incoming: Stream.suspend(() =>
      Stream.repeatEffectChunkOption(
        Effect.flatMap(
          Effect.mapError(receive, Option.some),
          (batch) => batch.length === 0 ? Effect.fail(Option.none()) : Effect.succeed(Chunk.unsafeFromArray(batch))
        )
      )
    ),
    receive,
    receiveNow: poll,
    whenReadable: (callback) => {
      if (frames.length > 0 || end !== undefined) return callback()
      waiting = callback
    },
    buffered: () => ws.bufferedAmount,
    send: (frame) =>
      Effect.suspend(() => {
        if (ws.readyState !== OPEN) return Effect.fail(closed())
        return Effect.try({
          try: () => {
            cork(ws)
            ws.send(frame)
          },
          catch: (cause) => new TransportError({ reason: "Write", message: `${label}: ${String(cause)}`, cause })
        })
      }),
    close: Effect.sync(() => {
      flush()
      if (ws.readyState <= OPEN) ws.close(1000, "closed")
    }),
    drain: Effect.suspend(() => drained(ws))
  }
  const waitOpen = opened === undefined ? Effect.void : Deferred.await(opened).pipe(
    Effect.timeoutFail({
      duration: options.openTimeout ?? Duration.seconds(10),
      onTimeout: () => new TransportError({ reason: "Open", message: `${label}: timed out waiting for the open` })
    })
  )
  return { connection, opened: waitOpen }
})
