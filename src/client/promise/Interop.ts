/**
 * What the Promise adapter's two halves share: an Effect run as a Promise that rejects with its typed failure
 * (an AbortSignal interrupting it), and a `ByteSource` read as a Stream.
 */
import { Cause, Effect, Exit, Stream } from "effect"

/** Bytes for an artifact: all at once, a web `ReadableStream`, or any async iterable (a Node stream, a generator). */
export type ByteSource = Uint8Array | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>

/** A `ByteSource` as a Stream; the source's own failure is the stream's error. */
export const byteStream = (data: ByteSource): Stream.Stream<Uint8Array, unknown> =>
  data instanceof Uint8Array
    ? Stream.succeed(data)
    : Symbol.asyncIterator in data
    ? Stream.fromAsyncIterable(data, (e) => e)
    : Stream.fromReadableStream(() => data, (e) => e)

/**
 * Runs an effect, rejecting with its typed failure (not a FiberFailure wrapper). An aborted `signal`
 * interrupts it, and the promise rejects with the signal's reason (an `AbortError`, as `fetch` does).
 */
export const run = <A, E>(effect: Effect.Effect<A, E>, signal?: AbortSignal): Promise<A> =>
  Effect.runPromiseExit(effect, signal !== undefined ? { signal } : undefined).then((exit) => {
    if (Exit.isSuccess(exit)) return exit.value
    if (signal?.aborted === true && Cause.isInterruptedOnly(exit.cause)) throw signal.reason
    throw Cause.squash(exit.cause)
  })
