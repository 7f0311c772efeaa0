/**
 * The one outbound path of a connection (ARCHITECTURE "data flows one way"):
 * services hand it envelopes; one writer fiber encodes and writes them in order.
 */
import { Deferred, Effect, Queue, type Scope } from "effect"
import { type HeaderOptions, make as makeEnvelope } from "../protocol/Envelope.js"
import { type Decoded, encodeUnchecked, type MessageType, type PayloadOf } from "../protocol/Message.js"
import type { Connection } from "../transport/Transport.js"

type Item =
  | { readonly _tag: "Envelope"; readonly envelope: Decoded }
  | { readonly _tag: "Flush"; readonly done: Deferred.Deferred<void> }

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

/** Starts the writer for `connection`; it stops with the scope. */
export const make = (connection: Connection): Effect.Effect<Outbound, never, Scope.Scope> =>
  Effect.gen(function*() {
    const queue = yield* Queue.unbounded<Item>()
    let defaults: HeaderOptions = {}
    let broken = false

    const write = (item: Item): Effect.Effect<void> => {
      if (item._tag === "Flush") return Deferred.succeed(item.done, undefined)
      if (broken) return Effect.void
      return connection.send(encodeUnchecked(item.envelope)).pipe(
        Effect.catchAll((error) => {
          // the peer is gone: later envelopes have nowhere to go; the read side ends the connection
          broken = true
          return Effect.logDebug(`outbound write failed on ${connection.label}: ${error.message}`)
        })
      )
    }
    yield* Queue.take(queue).pipe(Effect.flatMap(write), Effect.forever, Effect.forkScoped)

    const send = (envelope: Decoded) => Queue.offer(queue, { _tag: "Envelope", envelope }).pipe(Effect.asVoid)
    return {
      send,
      emit: (type, payload, options) => Effect.flatMap(makeEnvelope(type, payload, { ...defaults, ...options }), send),
      flush: Effect.gen(function*() {
        const done = yield* Deferred.make<void>()
        yield* Queue.offer(queue, { _tag: "Flush", done })
        yield* Deferred.await(done)
      }),
      setDefaults: (next) => Effect.sync(() => { defaults = next })
    }
  })
