/**
 * Transfers over binary sidecar frames (RFC §11.3, §16.2), for both ends of a
 * connection: an inbox that reassembles announced transfers from their frames
 * (in order, bounded, failing on a gap or an abort), and `transmit`, which cuts
 * bytes into frames and waits for the socket to drain between them.
 */
import { Deferred, type Duration, Effect, Queue, Stream } from "effect"
import { ArcpError } from "../protocol/Errors.js"
import * as Frame from "../protocol/Sidecar.js"
import type { Connection, TransportError } from "./Transport.js"

/** An announced transfer: its bytes, and `close` to stop it (run it whatever happens; later frames are dropped). */
export interface Expected {
  readonly bytes: Stream.Stream<Uint8Array, ArcpError>
  readonly close: Effect.Effect<void>
}

export interface Inbox {
  /**
   * Announces a transfer keyed by `key`: the payloads of its frames in order, ending
   * at the final frame. A sequence gap fails it DATA_LOSS, an abort frame CANCELLED,
   * no frame for the idle timeout DEADLINE_EXCEEDED.
   */
  readonly expect: (key: string) => Effect.Effect<Expected, ArcpError>
  /** Hands a transfer frame to its transfer (waits while that transfer's queue is full). */
  readonly accept: (frame: Frame.SidecarFrame) => Effect.Effect<"delivered" | "unknown" | "late">
  /** Fails an open transfer (the peer reported an error mid-way). */
  readonly fail: (key: string, error: ArcpError) => Effect.Effect<void>
}

type Item =
  | { readonly _tag: "Data"; readonly bytes: Uint8Array }
  | { readonly _tag: "End" }
  | { readonly _tag: "Fail"; readonly error: ArcpError }

interface Transfer {
  readonly queue: Queue.Queue<Item>
  /** Completed when the consumer is gone: nothing more is offered. */
  readonly gone: Deferred.Deferred<void>
  next: number
}

/** Frames one transfer may have waiting before the connection's reader waits (4 × 256 KiB). */
const QUEUED_FRAMES = 4
/** Transfers one connection may have open at once; more are refused RESOURCE_EXHAUSTED. */
const MAX_OPEN = 32
/** Keys of ended transfers remembered, so their late frames are dropped quietly. */
const REMEMBERED = 256
const EMPTY = new Uint8Array(0)
const encoder = new TextEncoder()

/** A new inbox; `idleTimeout` bounds the wait for each frame (default 30 s). */
export const makeInbox = (options: { readonly idleTimeout?: Duration.DurationInput | undefined } = {}) =>
  Effect.sync((): Inbox => {
    const open = new Map<string, Transfer>()
    const ended: Array<string> = []
    const idleTimeout = options.idleTimeout ?? "30 seconds"

    const forget = (key: string) => {
      open.delete(key)
      ended.push(key)
      if (ended.length > REMEMBERED) ended.shift()
    }
    const offer = (transfer: Transfer, item: Item) =>
      Effect.asVoid(Effect.raceFirst(Queue.offer(transfer.queue, item), Deferred.await(transfer.gone)))

    const expect = Effect.fnUntraced(function*(key: string) {
      const length = encoder.encode(key).byteLength
      if (length === 0 || length > 255) {
        return yield* ArcpError.of("INVALID_ARGUMENT", "a sidecar transfer's key must be 1 to 255 bytes")
      }
      if (open.has(key)) return yield* ArcpError.of("INVALID_ARGUMENT", `a transfer keyed ${key} is already open`)
      if (open.size >= MAX_OPEN) {
        return yield* ArcpError.of(
          "RESOURCE_EXHAUSTED",
          `${MAX_OPEN} sidecar transfers are already open on this connection`
        )
      }
      const transfer: Transfer = {
        queue: yield* Queue.bounded<Item>(QUEUED_FRAMES),
        gone: yield* Deferred.make<void>(),
        next: 0
      }
      open.set(key, transfer)
      const close = Effect.zipRight(
        Deferred.succeed(transfer.gone, undefined),
        Effect.sync(() => {
          if (open.get(key) === transfer) forget(key)
        })
      )
      const bytes = Stream.fromQueue(transfer.queue).pipe(
        Stream.takeWhile((item) => item._tag !== "End"),
        Stream.mapEffect((item) =>
          item._tag === "Fail" ? Effect.fail(item.error) : Effect.succeed(item._tag === "Data" ? item.bytes : EMPTY)
        ),
        Stream.timeoutFail(
          () => ArcpError.of("DEADLINE_EXCEEDED", `no sidecar frame for ${key} in time; nothing was stored`),
          idleTimeout
        ),
        Stream.ensuring(close)
      )
      return { bytes, close }
    })

    const accept = Effect.fnUntraced(function*(frame: Frame.SidecarFrame) {
      const transfer = open.get(frame.key)
      if (transfer === undefined) return ended.includes(frame.key) ? "late" as const : "unknown" as const
      if (frame.aborted || frame.sequence !== transfer.next) {
        const error = frame.aborted
          ? ArcpError.of("CANCELLED", `the sender aborted the transfer ${frame.key}`)
          : ArcpError.of(
            "DATA_LOSS",
            `sidecar frame ${frame.sequence} of ${frame.key} arrived where ${transfer.next} was expected`
          )
        forget(frame.key)
        yield* offer(transfer, { _tag: "Fail", error })
        return "delivered" as const
      }
      transfer.next += 1
      if (frame.payload.byteLength > 0) yield* offer(transfer, { _tag: "Data", bytes: frame.payload })
      if (frame.final) {
        forget(frame.key)
        yield* offer(transfer, { _tag: "End" })
      }
      return "delivered" as const
    })

    const fail = (key: string, error: ArcpError) =>
      Effect.suspend(() => {
        const transfer = open.get(key)
        if (transfer === undefined) return Effect.void
        forget(key)
        return offer(transfer, { _tag: "Fail", error })
      })

    return { expect, accept, fail }
  })

/**
 * Sends `bytes` as frames keyed to `key`, waiting for the connection to drain
 * between frames; the last frame is marked final. If `bytes` fails, an abort
 * frame tells the peer to drop what it received, and the failure is returned.
 */
export const transmit = <E>(
  connection: Connection,
  key: string,
  bytes: Stream.Stream<Uint8Array, E>
): Effect.Effect<void, E | TransportError> =>
  Effect.gen(function*() {
    let sequence = 0
    const send = (frame: Frame.SidecarFrame) =>
      Effect.zipRight(connection.send(Frame.encode(frame)), connection.drain ?? Effect.void)
    yield* Stream.runForEach(bytes, (chunk) =>
      Effect.forEach(
        Frame.slices(chunk),
        (payload) => Effect.suspend(() => send({ kind: "transfer", key, sequence: sequence++, final: false, payload })),
        { discard: true }
      )).pipe(
        Effect.tapError(() =>
          send({ kind: "transfer", key, sequence, final: true, aborted: true, payload: EMPTY }).pipe(Effect.ignore)
        )
      )
    yield* send({ kind: "transfer", key, sequence, final: true, payload: EMPTY })
  })
