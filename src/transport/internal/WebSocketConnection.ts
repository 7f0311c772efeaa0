/**
 * A WebSocket (the platform's `Socket` over a `ws` or standard WebSocket) as a `Connection`: text
 * frames carry envelopes, binary frames sidecar data (§11.3); sends wait on the socket's buffer and
 * reading pauses while binary bytes pile up, so memory is bounded both ways. Shared by the server
 * (own port or attached to an application's server) and the client.
 */
import type * as Socket from "@effect/platform/Socket"
import { Deferred, Effect, Mailbox, type Scope, Stream } from "effect"
import { EventEmitter } from "node:events"
import { binaryFrame, type Connection, type Incoming, textFrame, TransportError } from "../Transport.js"

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
        Effect.zipRight(Deferred.fail(opened, new TransportError({ reason: "Closed", message: "closed" })), mailbox.end)
      ),
      Effect.forkScoped
    )
    const closed = new TransportError({ reason: "Closed", message: `${options.label}: the connection is closed` })
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
            try: () => ws.send(frame),
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
