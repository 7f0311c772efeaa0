/**
 * The one outbound path of a connection (ARCHITECTURE "data flows one way"): committed first, then published, then
 * written. Services hand it envelopes; its one fiber hands them, in order and a batch at a time, to the recorder,
 * which commits them, publishes them on the event bus, and hands the committed copies back to this connection's
 * inbox; those go into the priority lanes (§6.5), and the same fiber writes what the lanes hold. That fiber runs
 * only while there is something to commit, write or settle: an idle connection holds none (issue 12). An envelope
 * the bus did not hand back (its commit failed) is never written. Only what the log cannot hold goes into the lanes
 * directly: handshake answers before a session exists, and relayed copies the bus already handed to a follower.
 *
 * The buffer is bounded (bytes and envelopes, counting what waits to be committed and what the transport still
 * holds): a job's own events wait for `room`, so a tool slows down to its reader's pace; a peer that takes nothing
 * while the buffer is full is reported through `onStall`. Under that pressure lower-priority traffic is shed first
 * (§6.5, Shedding): a `low` job.progress / log / metric is committed (the log, resume and subscription backfill
 * have it) but not written, and its producer does not wait for the socket. A failed recording seals the path:
 * nothing more is written but the farewell (`session.evicted`).
 */
import { Deferred, Duration, Effect, Either, Fiber, FiberId, type FiberRefs, type Scope } from "effect"
import { onClose } from "../../internal/OnClose.js"
import { withFiberRefs } from "../../internal/WithFiberRefs.js"
import { type HeaderOptions, make as makeEnvelope } from "../../protocol/Envelope.js"
import { type Decoded, type MessageType, type PayloadOf, tryEncode } from "../../protocol/Message.js"
import type { Connection } from "../../transport/Transport.js"
import type { Inbox, Options, Outbound } from "./OutboundApi.js"
import { PathState, type Queued } from "./PathState.js"
import * as Producers from "./Producers.js"
import { sendFramed } from "./SidecarChunks.js"

export type { Framed, Inbox, Limits, Options, Outbound, Recorder, Usage } from "./OutboundApi.js"
export { UNBOUNDED } from "./OutboundApi.js"

/** How many envelopes one round takes (one log batch, one run of writes). */
const BATCH = 256

/**
 * How often a writer held back by a full transport looks again (transports report no drain event):
 * soon at first, then backing off to the longest gap, so a peer that has stopped reading costs little.
 * These are Clock sleeps: under a TestClock a writer held back by its transport moves only when the
 * test adjusts the clock.
 */
const POLL_FIRST_MS = 1
const POLL_LONGEST_MS = 500

/** The one envelope type written after recording failed: the client learns why the session ends. */
const FAREWELL = "session.evicted"

/** Starts the path for `connection`; it stops with the scope, and what waited to be committed is committed then. */
export const make = (connection: Connection, options: Options = {}): Effect.Effect<Outbound, never, Scope.Scope> =>
  Effect.flatMap(Effect.scope, (scope) =>
    Effect.flatMap(Effect.getFiberRefs, (refs) => {
      const path = new Path(connection, options, scope, refs)
      // on close, what still waits to be committed goes to the log (a job's events reach a resume, §8.5)
      return Effect.as(onClose(Effect.suspend(() => path.close())), path)
    }))

/** A path whose owner runs `close` as `scope` closes (before the scope's earlier finalizers). */
export interface Owned extends Outbound {
  /** Commits what still waits to be committed, and stops the writer. */
  close(): Effect.Effect<void>
}

/** The path, built at once: its owner registers its `close`. Its writer runs with `refs`. */
export const unsafeMake = (
  connection: Connection,
  options: Options,
  scope: Scope.Scope,
  refs: FiberRefs.FiberRefs
): Owned => new Path(connection, options, scope, refs)

/** The path's steps, as prototype methods whose effects are built per call (its state: PathState, issue 12). */
class Path extends PathState implements Owned {
  private sealWith(error: { readonly message: string }): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.sealed) return Effect.void
      this.sealed = true
      const { options } = this
      return Effect.logError("cannot record outbound envelopes: the session ends", error).pipe(
        Effect.zipRight(
          options.onRecordFailure === undefined ? Effect.void : this.react(options.onRecordFailure(error))
        ),
        Effect.zipRight(this.wakeProducers())
      )
    })
  }

  /** Into the lanes for writing — or, for a sheddable event while the socket side is full, shed. */
  private enqueue(q: Queued): void {
    this.queue.enqueue(q, this.transportBytes())
  }

  /** One round: commits a batch of pending envelopes, then queues the copies the bus handed back, in order. */
  private commitRound(): Effect.Effect<void> {
    return Effect.suspend(() => {
      const batch = this.pending.slice(0, BATCH)
      this.pending = this.pending.slice(batch.length)
      this.committing = batch.length
      const toRecord = batch.filter((q) => this.recordable(q.envelope))
      const copies = new Map<Decoded, string>()
      const queueBatch = () => {
        for (const q of batch) {
          this.pendingBytes -= q.bytes
          if (this.sealed) {
            if (q.envelope.type === FAREWELL) this.enqueue(q)
          } else if (!this.recordable(q.envelope)) this.enqueue(q)
          else {
            const json = copies.get(q.envelope)
            if (json !== undefined) this.enqueue(json === q.json ? q : { ...q, json })
          }
        }
        this.committing = 0
      }
      const { options } = this
      if (toRecord.length === 0 || this.sealed || options.record === undefined) {
        queueBatch()
        return Effect.void
      }
      // the batch's copies queued in the step that sees the commit (a generator took a few more: issue 12)
      return Effect.matchEffect(
        options.record(toRecord, (events) => {
          for (const event of events) copies.set(event.envelope, event.json)
        }),
        {
          onFailure: (error) => Effect.map(this.sealWith(error), queueBatch),
          onSuccess: () => {
            queueBatch()
            return Effect.void
          }
        }
      )
    })
  }

  // one error handler per run of writes, not per frame; `writing` is back to 0 when the run ends (an interrupted
  // run ends the writer with the connection's close, after which nothing reads it): no `ensuring` (issue 12)
  private write(frames: ReadonlyArray<Queued>): Effect.Effect<void> {
    const { connection } = this
    return Effect.gen(() => this.writeSteps(frames)).pipe(Effect.catchAll((error) => {
      // the peer is gone: nothing more can be written; the read side ends the connection
      this.broken = true
      this.writing = 0
      return Effect.logDebug(`outbound write failed on ${connection.label}: ${error.message}`)
    }))
  }

  // generator methods, made once with the class: a `function*` evaluated per call would make a hidden class per
  // call, in the old generation, keeping the call's objects alive until the next full GC (issue 12)
  private *writeSteps(frames: ReadonlyArray<Queued>) {
    for (const frame of frames) {
      if (this.broken) break
      this.handed += frame.bytes
      yield* sendFramed(this.connection, frame.envelope, frame.json, this.sidecarChunks)
    }
    this.writing = 0
  }

  /** Completes every flush waiting. */
  private releaseFlushes(): Effect.Effect<void> {
    return Effect.suspend(() => {
      const done = this.drained
      this.drained = []
      return Effect.forEach(done, (d) => Deferred.succeed(d, undefined), { discard: true })
    })
  }
  private settleFlushes(): Effect.Effect<void> {
    return Effect.suspend(() =>
      ((this.envelopes() > 0 || this.writing > 0) && !this.broken) || this.drained.length === 0
        ? Effect.void
        : this.releaseFlushes()
    )
  }

  // the writer commits and writes, in turns: each round commits what waits (a slow reader never holds the
  // log back: a full transport skips the writes, not the commits), then writes what the bus handed back.
  // It runs while there is something to do and ends once nothing is left; `kick` starts it again.
  private rounds(): Effect.Effect<void> {
    return Effect.gen(() => this.roundSteps())
  }
  private *roundSteps() {
    const path = this
    const { connection, queue, wakeUp } = this
    // the fibers ready now run first: a job that answers at once adds its started and result to the
    // accepted that started this writer, so the three go out in one commit and one write (issue 12)
    yield* Effect.yieldNow()
    let pollMs = POLL_FIRST_MS
    while (true) {
      wakeUp.clear()
      const committed = path.pending.length > 0
      // a round cannot be interrupted between its commit and queueing what the bus handed back
      if (committed) yield* Effect.uninterruptible(path.commitRound())
      if (queue.size() > 0 && !path.writeInFlight && (path.broken || !path.transportFull())) {
        pollMs = POLL_FIRST_MS
        const batch = queue.take(BATCH)
        path.writing = batch.length
        const run = path.write(batch)
        if (connection.sendWaits === true) {
          // a send that may wait for the peer runs beside the commits: a stalled pipe never holds the log up
          path.writeInFlight = true
          yield* Effect.fork(run.pipe(Effect.ensuring(Effect.sync(() => {
            path.writing = 0
            path.writeInFlight = false
            wakeUp.signal()
          }))))
        } else yield* run
        yield* path.wakeProducers()
        continue
      }
      yield* path.wakeProducers()
      if (committed) continue
      if (path.writeInFlight) {
        // the write ends, or something new is sent
        yield* wakeUp.next
        continue
      }
      yield* path.settleFlushes()
      // nothing left (or nothing can be written any more): the writer ends here, with no step in between
      // where a sender could find it still running and leave its envelope to it
      if (
        path.pending.length === 0 &&
        ((queue.size() === 0 && (path.producers?.waiting() ?? 0) === 0) || path.broken)
      ) {
        if (path.drained.length === 0) {
          path.writer = undefined
          return
        }
        continue
      }
      // the transport holds its share: look again shortly (the peer may be reading), or as soon as
      // something new is sent
      yield* Effect.race(Effect.sleep(Duration.millis(pollMs)), wakeUp.next)
      pollMs = Math.min(POLL_LONGEST_MS, pollMs * 2)
    }
  }

  /** Something to commit, write or settle: wakes the writer, or starts it (built at each start: none held idle). */
  private kick(): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.writer !== undefined) {
        this.wakeUp.signal()
        return Effect.void
      }
      if (this.closed) return Effect.void
      // a daemon, not a fiber of the connection's scope: `forkIn` made a child scope, a finalizer and its close
      // (~25 fiber steps) per start, once per echo at one in flight (issue 12); the close interrupts it
      return Effect.flatMap(
        Effect.forkDaemon(Effect.interruptible(withFiberRefs(this.refs, this.rounds()))),
        (fiber) => {
          // the connection closed meanwhile (its close did not see this writer): it stops here
          if (this.closed) return Fiber.interrupt(fiber)
          // a writer that has already ended is not kept
          if (fiber.unsafePoll() === null) this.writer = fiber
          return Effect.void
        }
      )
    })
  }

  close(): Effect.Effect<void> {
    this.closed = true
    return Effect.gen(() => this.closeSteps())
  }
  private *closeSteps() {
    const { options } = this
    const path = this
    if (path.writer !== undefined) yield* Fiber.interrupt(path.writer)
    const rest = path.pending.filter((q) => path.recordable(q.envelope))
    path.pending = []
    path.pendingBytes = 0
    if (rest.length > 0 && options.record !== undefined && !path.sealed) {
      yield* options.record(rest, ignore).pipe(
        Effect.catchAll((e) => Effect.logError("cannot record unsent envelopes", e))
      )
    }
    yield* path.wakeProducers()
    yield* path.releaseFlushes()
  }

  send(envelope: Decoded, given?: string): Effect.Effect<void> {
    return Effect.suspend(() => {
      let json = given
      if (json === undefined) {
        // an envelope JSON cannot hold (a tool's value: too deep, cyclic) is dropped, never its sender with it
        const made = tryEncode(envelope)
        if (Either.isLeft(made)) {
          return Effect.logError(`dropped an unencodable ${envelope.type} (${envelope.id}): ${made.left}`)
        }
        json = made.right
      }
      const { options } = this
      if (this.closed) {
        // the connection is gone: a late event goes where a detached job's go
        if (options.record === undefined || this.sealed || !this.recordable(envelope)) return Effect.void
        return options.record([{ envelope, json }], ignore).pipe(
          Effect.catchAll((e) => Effect.logError("cannot record an envelope after close", e))
        )
      }
      const q: Queued = { envelope, json, bytes: Buffer.byteLength(json) }
      if (this.pending.length === 0 && this.committing === 0 && !this.recordable(envelope)) {
        // nothing to commit ahead of it. With no writer, nothing queued and a transport that buffers instead of
        // waiting: written now, on the sender's fiber (a handshake's answer started a writer fiber before, issue 12)
        if (
          this.writer === undefined && this.queue.size() === 0 && this.writing === 0 && !this.sealed &&
          !this.broken && this.holdsWhatItSends && !this.transportFull()
        ) {
          this.writing = 1
          return this.write([q])
        }
        // else straight to the lanes (order kept)
        if (!this.sealed || envelope.type === FAREWELL) this.enqueue(q)
      } else {
        this.pending.push(q)
        this.pendingBytes += q.bytes
      }
      // answers alone (never held back) overrunning twice the budget: the peer reads nothing
      const overrun = this.envelopes() >= 2 * this.limits.maxEnvelopes ||
        this.queue.bytes() + this.pendingBytes >= 2 * this.limits.maxBytes
      // the common case in this step: a running writer told, and no full buffer to watch (issue 12)
      if (this.writer !== undefined && !overrun && !this.full()) {
        this.wakeUp.signal()
        return Effect.void
      }
      return Effect.zipRight(this.kick(), overrun ? this.stallWatch().stall() : this.noteFull())
    })
  }

  emit<T extends MessageType>(type: T, payload: PayloadOf<T>, options?: HeaderOptions): Effect.Effect<void> {
    return Effect.flatMap(makeEnvelope(type, payload, { ...this.defaults, ...options }), (e) => this.send(e))
  }

  private roomWhen(shedding: boolean): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.roomNow(shedding)) return Effect.void
      const producers = this.producers ??= Producers.make(this)
      return Effect.gen(() => this.waitForRoom(producers, shedding))
    })
  }
  private *waitForRoom(producers: Producers.Producers, shedding: boolean) {
    const ready = yield* producers.enlist(shedding)
    yield* this.noteFull()
    // the writer looks at the transport while anyone waits
    yield* this.kick()
    yield* ready
  }
  get room() {
    return this.roomWhen(false)
  }
  get sheddingRoom() {
    return this.roomWhen(true)
  }

  private flushWith(past: boolean): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (past) this.draining = true
      // nothing queued, being written or settling: done now, with no writer started for it (issue 12)
      if (this.closed || (this.writer === undefined && this.envelopes() === 0 && this.writing === 0)) {
        return Effect.void
      }
      const done = Deferred.unsafeMake<void>(FiberId.none)
      this.drained.push(done)
      return Effect.zipRight(this.kick(), Deferred.await(done))
    })
  }
  get flush() {
    return this.flushWith(false)
  }
  get drain() {
    return this.flushWith(true)
  }
  get abandonDrains() {
    return this.releaseFlushes()
  }
  get backedUp() {
    return Effect.suspend(() => (this.producers ??= Producers.make(this)).backedUp())
  }
}

/** After close nothing is written: the bus's copies are not wanted. */
const ignore: Inbox = () => undefined
