/**
 * In-memory transport: paired connections inside one process, for tests and
 * for embedding a runtime next to its client. Same frame-size rule as the others.
 */
import { Context, Effect, FiberSet, Layer, Mailbox, Queue, type Scope, Stream } from "effect"
import {
  Acceptor,
  binaryFrame,
  type Connection,
  DEFAULT_MAX_FRAME_BYTES,
  type Incoming,
  textFrame,
  TransportError
} from "./Transport.js"

const frameBytes = (frame: Incoming) =>
  frame._tag === "Text" ? Buffer.byteLength(frame.text) : frame._tag === "Binary" ? frame.data.byteLength : frame.bytes

const closed = new TransportError({ reason: "Closed", message: "memory connection is closed" })

/** Two connected ends: what one sends, the other receives. Closing either ends both. */
export const makePair = Effect.fnUntraced(function*(
  options: { readonly maxFrameBytes?: number | undefined; readonly label?: string | undefined } = {}
) {
  const max = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES
  const a = yield* Mailbox.make<Incoming, TransportError>()
  const b = yield* Mailbox.make<Incoming, TransportError>()
  const close = Effect.zipRight(a.end, b.end).pipe(Effect.asVoid)
  yield* Effect.addFinalizer(() => close)
  // bytes each side sent that the other has not read yet: what a paused reader leaves in memory
  const unread = { a: 0, b: 0 }
  const end = (
    label: string,
    inbox: Mailbox.Mailbox<Incoming, TransportError>,
    peer: Mailbox.Mailbox<Incoming, TransportError>,
    mine: "a" | "b",
    theirs: "a" | "b"
  ): Connection => ({
    label,
    binary: true,
    incoming: Mailbox.toStream(inbox).pipe(Stream.mapChunks((chunk) => {
      for (const frame of chunk) unread[theirs] -= frameBytes(frame)
      return chunk
    })),
    send: (frame) =>
      Effect.suspend(() => {
        const incoming = typeof frame === "string" ? textFrame(frame, max) : binaryFrame(frame, max)
        if (!peer.unsafeOffer(incoming)) return Effect.fail(closed)
        unread[mine] += frameBytes(incoming)
        return Effect.void
      }),
    buffered: () => unread[mine],
    close
  })
  const label = options.label ?? "memory"
  return [end(`${label}:client`, a, b, "a", "b"), end(`${label}:server`, b, a, "b", "a")] as const
})

/** Dials the in-memory acceptor: each `connect` yields the client end of a new pair. */
export class MemoryNetwork extends Context.Tag("arcp/MemoryNetwork")<MemoryNetwork, {
  readonly connect: Effect.Effect<Connection, never, Scope.Scope>
}>() {}

/** An in-memory acceptor plus the `MemoryNetwork` clients dial it with. */
export const layer = (
  options: { readonly maxFrameBytes?: number | undefined } = {}
): Layer.Layer<Acceptor | MemoryNetwork> =>
  Layer.effectContext(
    Effect.gen(function*() {
      const pending = yield* Queue.unbounded<Connection>()
      let next = 0
      const acceptor = Acceptor.of({
        address: "memory",
        run: (handler) =>
          Effect.gen(function*() {
            const fibers = yield* FiberSet.make()
            while (true) {
              const connection = yield* Queue.take(pending)
              yield* FiberSet.run(fibers, handler(connection))
            }
          }).pipe(Effect.scoped)
      })
      const network = MemoryNetwork.of({
        connect: Effect.gen(function*() {
          const [client, server] = yield* makePair({ ...options, label: `memory#${++next}` })
          yield* Queue.offer(pending, server)
          return client
        })
      })
      return Context.make(Acceptor, acceptor).pipe(Context.add(MemoryNetwork, network))
    })
  )
