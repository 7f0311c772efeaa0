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
import { Deferred, Duration, Effect, Either, Fiber, FiberId, type Scope } from "effect"
import { onClose } from "../../internal/OnClose.js"
import { withFiberRefs } from "../../internal/WithFiberRefs.js"
import { type HeaderOptions, make as makeEnvelope } from "../../protocol/Envelope.js"
import { type Decoded, tryEncode } from "../../protocol/Message.js"
import type { Connection } from "../../transport/Transport.js"
import { type Framed, type Inbox, type Options, type Outbound, UNBOUNDED } from "./OutboundApi.js"
import * as Producers from "./Producers.js"
import { sendFramed } from "./SidecarChunks.js"
import * as Stall from "./Stall.js"
import * as WakeUp from "./WakeUp.js"
import * as WriteQueue from "./WriteQueue.js"

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

interface Queued extends Framed {
  readonly bytes: number
}

/** Starts the path for `connection`; it stops with the scope, and what waited to be committed is committed then. */
export const make = (connection: Connection, options: Options = {}): Effect.Effect<Outbound, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { onRecordFailure, onStall, record } = options
    const recordable = (envelope: Decoded) => record !== undefined && (options.recordable?.(envelope) ?? true)
    const limits = options.limits ?? UNBOUNDED
    const stallTimeout = Duration.decode(limits.stallTimeout)
    // committed (or unrecordable) envelopes waiting to be written, by priority
    const queue = WriteQueue.make<Queued>(limits)
    // envelopes waiting to be committed, in send order; `committing` of them are with the recorder now
    let pending: Array<Queued> = []
    let committing = 0
    let pendingBytes = 0
    // the writer's fiber, while it has something to do (an idle connection holds none, issue 12), and its wake-up:
    // a signal that came while it was not waiting is kept for its next wait (each round clears it)
    let writer: Fiber.RuntimeFiber<void> | undefined
    const wakeUp = WakeUp.make()
    const { signal } = wakeUp
    // flush callers wait for both fibers to find nothing left
    let drained: Array<Deferred.Deferred<void>> = []
    let defaults: HeaderOptions = {}
    // bytes handed to the transport, and of those, how many it reported taken by the peer
    let handed = 0
    // envelopes the writer took and is writing now (a flush waits for them too)
    let writing = 0
    // a write running on its own fiber (transports whose send may wait)
    let writeInFlight = false
    let broken = false
    let sealed = false
    let closed = false
    let draining = false
    let sidecarChunks = false

    // a transport that keeps what it is sent (and reports it) never makes a sender wait for the peer
    const holdsWhatItSends = connection.buffered !== undefined && connection.sendWaits !== true
    const transportBytes = () => Math.max(0, connection.buffered?.() ?? 0)
    const taken = () => handed - transportBytes()
    const envelopes = () => queue.size() + pending.length + committing
    const bytes = () => queue.bytes() + pendingBytes + transportBytes()
    const full = () => envelopes() >= limits.maxEnvelopes || bytes() >= limits.maxBytes
    /** Only what waits to be committed fills it: a producer of sheddable events waits for nothing else. */
    const commitFull = () => pending.length + committing >= limits.maxEnvelopes || pendingBytes >= limits.maxBytes
    const transportFull = () => !draining && transportBytes() >= limits.maxBytes
    const gone = () => closed || broken || sealed

    /** Whether a producer may go on: a producer of sheddable events waits only for the commits. */
    const hasRoom = (shedding: boolean) => gone() || !(shedding ? commitFull() : full())
    // producers waiting for room, woken once there is some
    const producers = Producers.make(hasRoom)
    const wakeProducers = producers.wake

    const scope = yield* Effect.scope
    // the reactions end the session, which flushes this path: they run on their own fiber, never the writer's
    const react = (effect: Effect.Effect<void>) => Effect.asVoid(Effect.forkIn(effect, scope))
    // the stalled-reader watchdog (outbound/Stall)
    const { noteFull, stall } = Stall.make({
      full,
      taken,
      closed: () => closed,
      stallTimeout,
      onStall,
      react,
      scope
    })

    const sealWith = (error: { readonly message: string }) =>
      Effect.suspend(() => {
        if (sealed) return Effect.void
        sealed = true
        return Effect.logError("cannot record outbound envelopes: the session ends", error).pipe(
          Effect.zipRight(onRecordFailure === undefined ? Effect.void : react(onRecordFailure(error))),
          Effect.zipRight(wakeProducers)
        )
      })

    /** Into the lanes for writing — or, for a sheddable event while the socket side is full, shed. */
    const enqueue = (q: Queued) => queue.enqueue(q, transportBytes())

    /** One round: commits a batch of pending envelopes, then queues the copies the bus handed back, in order. */
    const commitRound = (): Effect.Effect<void> =>
      Effect.suspend(() => {
        const batch = pending.slice(0, BATCH)
        pending = pending.slice(batch.length)
        committing = batch.length
        const toRecord = batch.filter((q) => recordable(q.envelope))
        const copies = new Map<Decoded, string>()
        const queueBatch = () => {
          for (const q of batch) {
            pendingBytes -= q.bytes
            if (sealed) {
              if (q.envelope.type === FAREWELL) enqueue(q)
            } else if (!recordable(q.envelope)) enqueue(q)
            else {
              const json = copies.get(q.envelope)
              if (json !== undefined) enqueue(json === q.json ? q : { ...q, json })
            }
          }
          committing = 0
        }
        if (toRecord.length === 0 || sealed || record === undefined) {
          queueBatch()
          return Effect.void
        }
        // the batch's copies queued in the step that sees the commit (a generator took a few more: issue 12)
        return Effect.matchEffect(
          record(toRecord, (events) => {
            for (const event of events) copies.set(event.envelope, event.json)
          }),
          {
            onFailure: (error) => Effect.map(sealWith(error), queueBatch),
            onSuccess: () => {
              queueBatch()
              return Effect.void
            }
          }
        )
      })

    // one error handler per run of writes, not per frame; `writing` is back to 0 when the run ends (an interrupted
    // run ends the writer with the connection's close, after which nothing reads it): no `ensuring` (issue 12)
    const write = (frames: ReadonlyArray<Queued>) =>
      Effect.gen(function*() {
        for (const frame of frames) {
          if (broken) break
          handed += frame.bytes
          yield* sendFramed(connection, frame.envelope, frame.json, sidecarChunks)
        }
        writing = 0
      }).pipe(Effect.catchAll((error) => {
        // the peer is gone: nothing more can be written; the read side ends the connection
        broken = true
        writing = 0
        return Effect.logDebug(`outbound write failed on ${connection.label}: ${error.message}`)
      }))

    /** Completes every flush waiting. */
    const releaseFlushes = Effect.suspend(() => {
      const done = drained
      drained = []
      return Effect.forEach(done, (d) => Deferred.succeed(d, undefined), { discard: true })
    })
    const settleFlushes = Effect.suspend(() =>
      ((envelopes() > 0 || writing > 0) && !broken) || drained.length === 0 ? Effect.void : releaseFlushes
    )

    // the writer commits and writes, in turns: each round commits what waits (a slow reader never holds the
    // log back: a full transport skips the writes, not the commits), then writes what the bus handed back.
    // It runs while there is something to do and ends once nothing is left; `kick` starts it again.
    const rounds = () =>
      Effect.gen(function*() {
        // the fibers ready now run first: a job that answers at once adds its started and result to the
        // accepted that started this writer, so the three go out in one commit and one write (issue 12)
        yield* Effect.yieldNow()
        let pollMs = POLL_FIRST_MS
        while (true) {
          wakeUp.clear()
          const committed = pending.length > 0
          // a round cannot be interrupted between its commit and queueing what the bus handed back
          if (committed) yield* Effect.uninterruptible(commitRound())
          if (queue.size() > 0 && !writeInFlight && (broken || !transportFull())) {
            pollMs = POLL_FIRST_MS
            const batch = queue.take(BATCH)
            writing = batch.length
            const run = write(batch)
            if (connection.sendWaits === true) {
              // a send that may wait for the peer runs beside the commits: a stalled pipe never holds the log up
              writeInFlight = true
              yield* Effect.fork(run.pipe(Effect.ensuring(Effect.sync(() => {
                writing = 0
                writeInFlight = false
                signal()
              }))))
            } else yield* run
            yield* wakeProducers
            continue
          }
          yield* wakeProducers
          if (committed) continue
          if (writeInFlight) {
            // the write ends, or something new is sent
            yield* wakeUp.next
            continue
          }
          yield* settleFlushes
          // nothing left (or nothing can be written any more): the writer ends here, with no step in between
          // where a sender could find it still running and leave its envelope to it
          if (pending.length === 0 && ((queue.size() === 0 && producers.waiting() === 0) || broken)) {
            if (drained.length === 0) {
              writer = undefined
              return
            }
            continue
          }
          // the transport holds its share: look again shortly (the peer may be reading), or as soon as
          // something new is sent
          yield* Effect.race(Effect.sleep(Duration.millis(pollMs)), wakeUp.next)
          pollMs = Math.min(POLL_LONGEST_MS, pollMs * 2)
        }
      })
    // the writer runs with the connection's fiber refs (log annotations), whoever starts it (a send from a
    // finalizer too); built at each start: an idle connection holds no writer, nor what would run it
    const refs = yield* Effect.getFiberRefs
    /** Something to commit, write or settle: wakes the writer, or starts it. */
    const kick = Effect.suspend(() => {
      if (writer !== undefined) {
        signal()
        return Effect.void
      }
      if (closed) return Effect.void
      // a daemon, not a fiber of the connection's scope: `forkIn` made a child scope, a finalizer and its close
      // (~25 fiber steps) per start, once per echo at one in flight (issue 12); the close below interrupts it
      return Effect.flatMap(Effect.forkDaemon(Effect.interruptible(withFiberRefs(refs, rounds()))), (fiber) => {
        // the connection closed meanwhile (its close did not see this writer): it stops here
        if (closed) return Fiber.interrupt(fiber)
        // a writer that has already ended is not kept
        if (fiber.unsafePoll() === null) writer = fiber
        return Effect.void
      })
    })

    // on close, what still waits to be committed goes to the log (a job's events reach a resume, §8.5)
    yield* onClose(
      Effect.gen(function*() {
        closed = true
        if (writer !== undefined) yield* Fiber.interrupt(writer)
        const rest = pending.filter((q) => recordable(q.envelope))
        pending = []
        pendingBytes = 0
        if (rest.length > 0 && record !== undefined && !sealed) {
          yield* record(rest, ignore).pipe(
            Effect.catchAll((e) => Effect.logError("cannot record unsent envelopes", e))
          )
        }
        yield* wakeProducers
        yield* releaseFlushes
      })
    )

    const send = (envelope: Decoded): Effect.Effect<void> =>
      Effect.suspend(() => {
        // an envelope JSON cannot hold (a tool's value: too deep, cyclic) is dropped, never its sender with it
        const encoded = tryEncode(envelope)
        if (Either.isLeft(encoded)) {
          return Effect.logError(`dropped an unencodable ${envelope.type} (${envelope.id}): ${encoded.left}`)
        }
        const json = encoded.right
        if (closed) {
          // the connection is gone: a late event goes where a detached job's go
          if (record === undefined || sealed || !recordable(envelope)) return Effect.void
          return record([{ envelope, json }], ignore).pipe(
            Effect.catchAll((e) => Effect.logError("cannot record an envelope after close", e))
          )
        }
        const q: Queued = { envelope, json, bytes: Buffer.byteLength(json) }
        if (pending.length === 0 && committing === 0 && !recordable(envelope)) {
          // nothing to commit ahead of it. With no writer, nothing queued and a transport that buffers instead of
          // waiting: written now, on the sender's fiber (a handshake's answer started a writer fiber before, issue 12)
          if (
            writer === undefined && queue.size() === 0 && writing === 0 && !sealed && !broken && holdsWhatItSends &&
            !transportFull()
          ) {
            writing = 1
            return write([q])
          }
          // else straight to the lanes (order kept)
          if (!sealed || envelope.type === FAREWELL) enqueue(q)
        } else {
          pending.push(q)
          pendingBytes += q.bytes
        }
        // answers alone (never held back) overrunning twice the budget: the peer reads nothing
        const overrun = envelopes() >= 2 * limits.maxEnvelopes || queue.bytes() + pendingBytes >= 2 * limits.maxBytes
        // the common case in this step: a running writer told, and no full buffer to watch (issue 12)
        if (writer !== undefined && !overrun && !full()) {
          signal()
          return Effect.void
        }
        return Effect.zipRight(kick, overrun ? stall : noteFull)
      })

    const roomWhen = (shedding: boolean): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (hasRoom(shedding)) return Effect.void
        return Effect.gen(function*() {
          const ready = yield* producers.enlist(shedding)
          yield* noteFull
          // the writer looks at the transport while anyone waits
          yield* kick
          yield* ready
        })
      })

    const flushWith = (past: boolean) =>
      Effect.suspend(() => {
        if (past) draining = true
        // nothing queued, being written or settling: done now, with no writer started for it (issue 12)
        if (closed || (writer === undefined && envelopes() === 0 && writing === 0)) return Effect.void
        const done = Deferred.unsafeMake<void>(FiberId.none)
        drained.push(done)
        return Effect.zipRight(kick, Deferred.await(done))
      })

    return {
      send,
      emit: (type, payload, options) => Effect.flatMap(makeEnvelope(type, payload, { ...defaults, ...options }), send),
      room: roomWhen(false),
      sheddingRoom: roomWhen(true),
      roomNow: hasRoom,
      flush: flushWith(false),
      drain: flushWith(true),
      abandonDrains: releaseFlushes,
      useSidecarChunks: Effect.sync(() => {
        sidecarChunks = true
      }),
      setDefaults: (next) =>
        Effect.sync(() => {
          defaults = next
        }),
      usage: Effect.sync(() => ({
        envelopes: envelopes(),
        bytes: bytes(),
        transportBytes: transportBytes(),
        waiting: producers.waiting(),
        uncommitted: pending.length + committing,
        shed: queue.shed()
      })),
      backedUp: producers.backedUp
    }
  })

/** After close nothing is written: the bus's copies are not wanted. */
const ignore: Inbox = () => undefined
