/**
 * How a connection is read (the loop of `Connection.serve`): a connection on a fiber of its own with `suspend` is read
 * in turns and waits for its peer with no fiber at all; one with `receive` is read on its own fiber; else its
 * `incoming` stream on a forked reader, the connection's fiber waiting for the end. What is done with the frames is
 * the subclass's (`onChunk`).
 */
import { Deferred, Effect, Fiber, FiberId, Stream } from "effect"
import type { Connection, Incoming, TransportError } from "../../transport/Transport.js"

export abstract class Reading {
  /** Closing has begun: the reader stops once the frames it handles are done. */
  protected closing = false
  /** Starts a fiber for a suspended connection (once): it reads what is there, or sees `closing` and ends. */
  protected resumeSuspended: (() => void) | undefined = undefined
  // what a reader on a fiber of its own (not this one) waits for, to be told the connection is closing
  protected readonly closedSignal: Deferred.Deferred<void> | undefined

  constructor(
    protected readonly connection: Connection,
    // the connection's reader while it runs: the connection's fiber, when the connection is read on it
    // (`undefined` while a suspended connection has no fiber); undefined too for a reader on a fiber of its own
    protected reader: Fiber.RuntimeFiber<unknown, unknown> | undefined
  ) {
    this.closedSignal = reader === undefined ? Deferred.unsafeMake<void>(FiberId.none) : undefined
  }

  /** Handles a chunk of frames; never fails. */
  protected abstract onChunk(frames: Iterable<Incoming>): Effect.Effect<void>
  /** The connection ended: nothing more is read. */
  protected abstract setClosed(): Effect.Effect<void>

  /** Stops the reading from any fiber, once closing has begun (see `Connection`'s close). */
  protected stopReading(): Effect.Effect<void> {
    return Effect.withFiberRuntime<void>((current) => {
      const { closedSignal, reader } = this
      return closedSignal !== undefined
        ? Deferred.succeed(closedSignal, undefined)
        : reader !== undefined
        ? current !== reader ? reader.interruptAsFork(current.id()) : Effect.void
        // suspended: a fiber of the connection's starts, sees `closing` and ends it
        : Effect.sync(() => this.resumeSuspended?.())
    })
  }

  protected endedBy(error: { readonly message: string }): Effect.Effect<void> {
    return Effect.logDebug(`connection ${this.connection.label} ended: ${error.message}`)
  }

  /** A turn of a connection read in turns: what has arrived is handled, then it suspends (or ends). */
  protected turn(): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.closing) return this.setClosed()
      const now = this.connection.receiveNow?.()
      if (now === undefined) return this.suspendReading()
      return Effect.matchEffect(now, {
        onFailure: (error) => Effect.zipRight(this.endedBy(error), this.setClosed()),
        onSuccess: (frames) =>
          frames.length === 0 ? this.setClosed() : Effect.zipRight(this.onChunk(frames), this.turn())
      })
    })
  }

  // (no fiber reads from here on, in the same step as the wake-up is set: a close from elsewhere either interrupts
  // the reader before it suspends or resumes it after; one that began meanwhile resumes it at once)
  private suspendReading(): Effect.Effect<void> {
    const { suspend, whenReadable } = this.connection
    if (suspend === undefined || whenReadable === undefined) return Effect.void
    return suspend((resume) => {
      this.reader = undefined
      if (this.closing) return resume()
      this.resumeSuspended = resume
      whenReadable(resume)
    }, resumedOn(this))
  }

  resumed(fiber: Fiber.RuntimeFiber<unknown, unknown>): Effect.Effect<void> {
    this.reader = fiber
    return this.turn()
  }

  /** What is left to run once the connection is set up: its reading, until it ends. */
  reading(): Effect.Effect<void> {
    const { connection } = this
    const { receive, receiveNow, suspend, whenReadable } = connection
    // read in turns: a fiber of the connection's handles what has arrived, and once it would wait it suspends the
    // connection and ends; the next frame (or the end) starts the next (issue 12: an idle connection holds no fiber)
    if (this.reader !== undefined && suspend !== undefined && receiveNow !== undefined && whenReadable !== undefined) {
      return this.turn()
    }
    // through `receive` when the transport has it: no stream executor per connection (issue 12)
    const reading = receive === undefined
      ? Stream.runForEachChunk(connection.incoming, (frames) => this.onChunk(frames))
      : this.readLoop(receive)
    if (this.reader !== undefined) {
      return Effect.matchEffect(reading, {
        onFailure: (error) => Effect.zipRight(this.endedBy(error), this.setClosed()),
        onSuccess: () => this.setClosed()
      })
    }
    // otherwise the reader on its own fiber, this one waiting for the end: closing (ours) or the stream's (the
    // peer's). Waited on rather than raced (a race forks both sides) or Stream.interruptWhen (a race per pull, 4x)
    const { closedSignal } = this
    return reading.pipe(
      Effect.catchAll((error) => this.endedBy(error)),
      Effect.ensuring(closedSignal === undefined ? Effect.void : Deferred.succeed(closedSignal, undefined)),
      Effect.fork,
      Effect.tap(() => closedSignal === undefined ? Effect.void : Deferred.await(closedSignal)),
      Effect.flatMap(Fiber.interrupt),
      Effect.zipRight(this.setClosed())
    )
  }

  // until the peer ends the connection, or closing begins. Through `receive`, a loop of `flatMap`s rather than a
  // generator: an idle connection's fiber waits in `receive` with one frame of it on its stack (issue 12)
  private readLoop(take: Effect.Effect<ReadonlyArray<Incoming>, TransportError>): Effect.Effect<void, TransportError> {
    const next = (frames: ReadonlyArray<Incoming>): Effect.Effect<void, TransportError> =>
      frames.length === 0 ? Effect.void : Effect.flatMap(this.onChunk(frames), () => this.closing ? Effect.void : loop)
    const loop: Effect.Effect<void, TransportError> = Effect.flatMap(take, next)
    return Effect.suspend(() => this.closing ? Effect.void : loop)
  }
}

/** The effect a suspended connection resumes with (built at each suspension: an idle connection keeps this one). */
const resumedOn = (reading: Reading): Effect.Effect<void> =>
  Effect.withFiberRuntime<void>((fiber) => reading.resumed(fiber))
