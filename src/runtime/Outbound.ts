/**
 * The one outbound path of a connection (ARCHITECTURE "data flows one way"):
 * services hand it envelopes; one writer fiber takes them by priority (§6.5),
 * records each batch in the event log, then encodes and writes them.
 */
import { Deferred, Effect, Either, Queue, type Scope } from "effect"
import { type HeaderOptions, make as makeEnvelope, priorityOf } from "../protocol/Envelope.js"
import { type Decoded, type MessageType, type PayloadOf, tryEncode } from "../protocol/Message.js"
import type { Connection } from "../transport/Transport.js"
import * as Lanes from "./internal/Lanes.js"

export interface Outbound {
  /** Queues an envelope for writing; never blocks on the socket. */
  readonly send: (envelope: Decoded) => Effect.Effect<void>
  /** Builds an envelope (id, timestamp, the header defaults) and queues it. */
  readonly emit: <T extends MessageType>(type: T, payload: PayloadOf<T>, options?: HeaderOptions) => Effect.Effect<void>
  /** Completes when everything queued before it has been written (or the connection is gone). */
  readonly flush: Effect.Effect<void>
  /** Sets header fields stamped on every later envelope (the session id, once accepted). */
  readonly setDefaults: (defaults: HeaderOptions) => Effect.Effect<void>
}

/** Records a batch of envelopes (with their JSON) before they are written; failures are the recorder's to log. */
export type Recorder = (
  batch: ReadonlyArray<{ readonly envelope: Decoded; readonly json: string }>
) => Effect.Effect<void>

/** How many envelopes the writer takes per round (one log batch). */
const BATCH = 256

/** Starts the writer for `connection`; it stops with the scope. */
export const make = (connection: Connection, record?: Recorder): Effect.Effect<Outbound, never, Scope.Scope> =>
  Effect.gen(function*() {
    const lanes = Lanes.make<Decoded>()
    const wake = yield* Queue.sliding<void>(1)
    // flush callers wait for the writer to find the lanes empty
    let drained: Array<Deferred.Deferred<void>> = []
    let defaults: HeaderOptions = {}
    let broken = false

    const writeBatch = (envelopes: ReadonlyArray<Decoded>) =>
      Effect.gen(function*() {
        // an envelope JSON cannot hold (a tool's value: too deep, cyclic) is dropped, never the writer with it
        const frames: Array<{ readonly envelope: Decoded; readonly json: string }> = []
        for (const envelope of envelopes) {
          const json = tryEncode(envelope)
          if (Either.isRight(json)) frames.push({ envelope, json: json.right })
          else yield* Effect.logError(`dropped an unencodable ${envelope.type} (${envelope.id}): ${json.left}`)
        }
        if (record !== undefined) yield* record(frames)
        for (const frame of frames) {
          if (broken) return
          yield* connection.send(frame.json).pipe(
            Effect.catchAll((error) => {
              // the peer is gone: nothing more can be written; the read side ends the connection
              broken = true
              return Effect.logDebug(`outbound write failed on ${connection.label}: ${error.message}`)
            })
          )
        }
      })

    yield* Effect.gen(function*() {
      while (true) {
        yield* Queue.take(wake)
        while (lanes.size() > 0) {
          const batch: Array<Decoded> = []
          for (let next = lanes.pop(); next !== undefined; next = batch.length < BATCH ? lanes.pop() : undefined) {
            batch.push(next)
          }
          yield* writeBatch(batch)
        }
        const waiters = drained
        drained = []
        for (const done of waiters) yield* Deferred.succeed(done, undefined)
      }
    }).pipe(Effect.forkScoped)

    const send = (envelope: Decoded) =>
      Effect.sync(() => {
        lanes.push(envelope, priorityOf(envelope), envelope.job_id ?? envelope.stream_id)
        Queue.unsafeOffer(wake, undefined)
      })
    return {
      send,
      emit: (type, payload, options) => Effect.flatMap(makeEnvelope(type, payload, { ...defaults, ...options }), send),
      flush: Effect.gen(function*() {
        const done = yield* Deferred.make<void>()
        yield* Effect.sync(() => {
          drained.push(done)
          Queue.unsafeOffer(wake, undefined)
        })
        yield* Deferred.await(done)
      }),
      setDefaults: (next) =>
        Effect.sync(() => {
          defaults = next
        })
    }
  })
