/**
 * Sidecar binary frames on one connection (RFC §11.3, §16.2): uploads announced
 * by an `artifact.put` receive the frames keyed to its message id, in order and
 * with backpressure (a bounded queue holds the reader of the socket); outgoing
 * transfers are cut into frames that wait for the socket to drain. Frames nobody
 * announced are refused with a nack.
 */
import { Deferred, type Duration, Effect, FiberSet, Option, Queue, Schema, type Scope, Stream } from "effect"
import { ArcpError } from "../../protocol/Errors.js"
import { MessageId } from "../../protocol/Ids.js"
import * as Frame from "../../protocol/Sidecar.js"
import type { Connection } from "../../transport/Transport.js"
import type { Outbound } from "../Outbound.js"

export interface Sidecar {
  /** The transport carries binary frames (WebSocket); false means base64 only. */
  readonly binary: boolean
  /**
   * Announces an upload keyed by `key` (the put's message id): its frames' payloads,
   * in order, ending at the final frame. A sequence gap fails it DATA_LOSS; no frame
   * for `idleTimeout` fails it DEADLINE_EXCEEDED; the connection closing interrupts it.
   */
  readonly expect: (key: string) => Effect.Effect<Expected, ArcpError>
  /** Hands one incoming binary frame to its upload (waits while that upload's queue is full). */
  readonly deliver: (data: Uint8Array) => Effect.Effect<void>
  /** Sends `bytes` to the peer as frames keyed to `key`, the last one marked final. */
  readonly transmit: (key: string, bytes: Stream.Stream<Uint8Array, ArcpError>) => Effect.Effect<void, ArcpError>
  /** Runs `effect` in the background for as long as the connection lives. */
  readonly fork: (effect: Effect.Effect<void>) => Effect.Effect<void>
}

/** An announced upload: its bytes, and `close` to stop it (run it whatever happens; later frames are dropped). */
export interface Expected {
  readonly bytes: Stream.Stream<Uint8Array, ArcpError>
  readonly close: Effect.Effect<void>
}

type Item =
  | { readonly _tag: "Data"; readonly bytes: Uint8Array }
  | { readonly _tag: "End" }
  | { readonly _tag: "Fail"; readonly error: ArcpError }

interface Upload {
  readonly queue: Queue.Queue<Item>
  /** Completed when the consumer is gone: nothing more is offered. */
  readonly gone: Deferred.Deferred<void>
  next: number
}

/** Frames one upload may have waiting before the socket's reader waits (4 × 256 KiB). */
const QUEUED_FRAMES = 4
/** Keys of ended or refused uploads remembered, so their late frames are dropped rather than nacked. */
const REMEMBERED = 256
const EMPTY = new Uint8Array(0)
const readMessageId = Schema.decodeUnknownOption(MessageId)

/** The sidecar of `connection`; its uploads end with the scope. */
export const make = (
  connection: Connection,
  outbound: Outbound,
  options: { readonly idleTimeout?: Duration.DurationInput | undefined } = {}
): Effect.Effect<Sidecar, never, Scope.Scope> =>
  Effect.gen(function*() {
    const uploads = new Map<string, Upload>()
    const ended: Array<string> = []
    const fibers = yield* FiberSet.make()
    const idleTimeout = options.idleTimeout ?? "30 seconds"

    const forget = (key: string) => {
      uploads.delete(key)
      ended.push(key)
      if (ended.length > REMEMBERED) ended.shift()
    }

    const refuse = (message: string, key?: string) => {
      const id = readMessageId(key)
      return outbound.emit(
        "nack",
        { ...ArcpError.of("INVALID_ARGUMENT", message).toPayload(), ...(Option.isSome(id) ? { ack_for: id.value } : {}) },
        Option.isSome(id) ? { correlation_id: id.value } : {}
      )
    }

    const expect = (key: string) =>
      Effect.gen(function*() {
        if (!connection.binary) {
          return yield* ArcpError.of("INVALID_ARGUMENT", "this transport has no binary frames: send the data base64")
        }
        if (new TextEncoder().encode(key).byteLength > 255) {
          return yield* ArcpError.of("INVALID_ARGUMENT", "a sidecar put's message id must be at most 255 bytes")
        }
        if (uploads.has(key)) return yield* ArcpError.of("INVALID_ARGUMENT", `an upload keyed ${key} is already open`)
        const upload: Upload = { queue: yield* Queue.bounded<Item>(QUEUED_FRAMES), gone: yield* Deferred.make<void>(), next: 0 }
        uploads.set(key, upload)
        const close = Effect.zipRight(
          Deferred.succeed(upload.gone, undefined),
          Effect.sync(() => {
            if (uploads.get(key) === upload) forget(key)
          })
        )
        const bytes = Stream.fromQueue(upload.queue).pipe(
          Stream.takeWhile((item) => item._tag !== "End"),
          Stream.mapEffect((item) =>
            item._tag === "Fail" ? Effect.fail(item.error) : Effect.succeed(item._tag === "Data" ? item.bytes : EMPTY)
          ),
          Stream.timeoutFail(
            () => ArcpError.of("DEADLINE_EXCEEDED", `no sidecar frame for ${key} within ${String(idleTimeout)}`),
            idleTimeout
          ),
          Stream.ensuring(close)
        )
        return { bytes, close }
      })

    const offer = (upload: Upload, item: Item) =>
      Effect.asVoid(Effect.raceFirst(Queue.offer(upload.queue, item), Deferred.await(upload.gone)))

    const deliver = (data: Uint8Array) =>
      Effect.gen(function*() {
        const frame = Frame.decode(data)
        if (typeof frame === "string") return yield* refuse(`${frame} (see docs/decisions.md, sidecar frames)`)
        if (frame.kind !== "transfer") {
          return yield* refuse("binary stream chunks from a client are not accepted: streams are the runtime's")
        }
        const upload = uploads.get(frame.key)
        if (upload === undefined) {
          if (ended.includes(frame.key)) return yield* Effect.logDebug(`dropped a late sidecar frame of ${frame.key}`)
          return yield* refuse(`binary frame for ${frame.key}, which no artifact.put announced`, frame.key)
        }
        if (frame.sequence !== upload.next) {
          const error = ArcpError.of(
            "DATA_LOSS",
            `sidecar frame ${frame.sequence} of ${frame.key} arrived where ${upload.next} was expected; nothing was stored`
          )
          forget(frame.key)
          return yield* offer(upload, { _tag: "Fail", error })
        }
        upload.next += 1
        if (frame.payload.byteLength > 0) yield* offer(upload, { _tag: "Data", bytes: frame.payload })
        if (frame.final) {
          forget(frame.key)
          yield* offer(upload, { _tag: "End" })
        }
      })

    const send = (frame: Uint8Array) =>
      connection.send(frame).pipe(
        Effect.zipRight(connection.drain ?? Effect.void),
        Effect.mapError((e) => ArcpError.of("UNAVAILABLE", `cannot send sidecar frames: ${e.message}`))
      )

    const transmit = (key: string, bytes: Stream.Stream<Uint8Array, ArcpError>) =>
      Effect.gen(function*() {
        let sequence = 0
        yield* Stream.runForEach(bytes, (chunk) =>
          Effect.forEach(Frame.slices(chunk), (payload) =>
            Effect.suspend(() =>
              send(Frame.encode({ kind: "transfer", key, sequence: sequence++, final: false, payload }))
            ), { discard: true }))
        yield* send(Frame.encode({ kind: "transfer", key, sequence, final: true, payload: EMPTY }))
      })

    return {
      binary: connection.binary,
      expect,
      deliver,
      transmit,
      fork: (effect) => Effect.asVoid(FiberSet.run(fibers, effect))
    }
  })
