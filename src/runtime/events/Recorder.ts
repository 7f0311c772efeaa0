/**
 * The one recorder of outbound envelopes (ARCHITECTURE "record, then
 * publish"): every envelope the runtime sends to a session, whoever emits it,
 * is committed to the `EventLog` here, which gives it a position, and only
 * then published on the `EventBus`. One fiber does both, a batch at a time,
 * so the bus carries batches in commit order and a position is never
 * published before a smaller one. In-process, right after the publish, the
 * round hands each recording connection the committed copies of its own
 * envelopes (its `inbox`, synchronously): that is what its writer writes,
 * so nothing reaches a socket that was not committed and published first.
 */
import { Chunk, Context, Deferred, Effect, Either, Layer, Queue } from "effect"
import type { Decoded } from "../../protocol/Message.js"
import { EventLog, type EventLogError, type GroupPart, type LoggedEnvelope } from "../../store/EventLog.js"
import { EventBus, type Published } from "./EventBus.js"

/** A recording connection's inbox: the bus hands it the committed copies of the envelopes it recorded. */
export type Inbox = (events: ReadonlyArray<Published>) => void

/** One envelope to record: addressed to a session (`session_id`), with its JSON and the session's principal. */
export interface Entry {
  readonly envelope: Decoded
  readonly sessionId: string
  readonly principal: string
  readonly json: string
}

/**
 * A part of a mixed group to record: outbound `entries` (committed, then published, as `record` does) or a
 * part the log takes as it is (inbound envelopes, session records: committed, not published).
 */
export type Part = Exclude<GroupPart, { readonly _tag: "Outbound" }> | {
  readonly _tag: "Outbound"
  readonly entries: ReadonlyArray<Entry>
}

export class Recorder extends Context.Tag("arcp/Recorder")<Recorder, {
  /**
   * Commits `entries` (in order) and publishes them; returns their positions
   * once both are done. A failed commit publishes nothing of the batch it was
   * part of (the bus says `Unrecorded` for the sessions concerned) and fails here.
   * `inbox` is handed the published copies of `entries` right after the publish, before this completes.
   */
  readonly record: (
    entries: ReadonlyArray<Entry>,
    inbox?: Inbox
  ) => Effect.Effect<ReadonlyArray<number>, EventLogError>
  /**
   * `record` for a mixed group: its parts committed in one transaction, in order, with the outbound
   * entries of the round (a handshake's transcript, session record and `session.accepted` at once).
   * Returns the positions of its outbound entries.
   */
  readonly recordGroup: (
    parts: ReadonlyArray<Part>,
    inbox?: Inbox
  ) => Effect.Effect<ReadonlyArray<number>, EventLogError>
}>() {}

interface Pending {
  /** The outbound entries (of `parts` too, in order). */
  readonly entries: ReadonlyArray<Entry>
  /** A mixed group, when it is one. */
  readonly parts?: ReadonlyArray<Part> | undefined
  readonly done: Deferred.Deferred<ReadonlyArray<number>, EventLogError>
  readonly inbox: Inbox | undefined
}

/** Most record calls one round takes (each round is one commit, then one publish). */
const ROUND = 512

export const make = Effect.gen(function*() {
  const log = yield* EventLog
  const bus = yield* EventBus
  const queue = yield* Queue.unbounded<Pending>()

  const round = (pending: ReadonlyArray<Pending>) =>
    Effect.gen(function*() {
      const entries = pending.flatMap((p) => p.entries)
      // a round with a mixed group in it is one mixed commit, everything in queue order
      const committed = yield* Effect.either(
        pending.some((p) => p.parts !== undefined)
          ? Effect.map(
            log.recordGroup(pending.flatMap((p): ReadonlyArray<GroupPart> =>
              p.parts === undefined
                ? [{ _tag: "Outbound", envelopes: p.entries.map(logged) }]
                : p.parts.map((part) =>
                  part._tag === "Outbound" ? { _tag: "Outbound", envelopes: part.entries.map(logged) } : part
                )
            )),
            (recorded) => recorded.positions
          )
          : log.recordOutbound(entries.map(logged))
      )
      if (Either.isLeft(committed)) {
        const sessionIds = [...new Set(entries.map((e) => e.sessionId))]
        yield* bus.publish({ _tag: "Unrecorded", sessionIds, message: committed.left.message })
        return yield* Effect.forEach(pending, (p) => Deferred.fail(p.done, committed.left), { discard: true })
      }
      const positions = committed.right
      const events: Array<Published> = entries.map((e, i) => ({
        position: positions[i] ?? 0,
        sessionId: e.sessionId,
        principal: e.principal,
        envelope: e.envelope,
        json: e.json
      }))
      yield* bus.publish({ _tag: "Committed", events })
      let offset = 0
      for (const p of pending) {
        const end = offset + p.entries.length
        p.inbox?.(events.slice(offset, end))
        yield* Deferred.succeed(p.done, positions.slice(offset, end))
        offset = end
      }
    })

  let closed = false
  // added before the fiber starts, so it runs after the fiber is stopped: what is still queued is recorded
  yield* Effect.addFinalizer(() =>
    Effect.suspend(() => {
      closed = true
      return Effect.flatMap(Queue.takeAll(queue), (rest) =>
        Chunk.isEmpty(rest) ? Effect.void : round(Chunk.toReadonlyArray(rest)))
    })
  )
  yield* Effect.gen(function*() {
    while (true) {
      const batch = yield* Queue.takeBetween(queue, 1, ROUND)
      // one round cannot be interrupted between the commit and the publish
      yield* Effect.uninterruptible(round(Chunk.toReadonlyArray(batch)))
    }
  }).pipe(Effect.forkScoped)

  const submit = (entries: ReadonlyArray<Entry>, parts: ReadonlyArray<Part> | undefined, inbox: Inbox | undefined) =>
    Effect.flatMap(
      Deferred.make<ReadonlyArray<number>, EventLogError>(),
      (done) =>
        Effect.zipRight(
          // once the runtime is closing there is no fiber to wait for: the caller records its own round
          Effect.suspend(() => {
            const pending: Pending = { entries, parts, done, inbox }
            return closed ? round([pending]) : Queue.offer(queue, pending)
          }),
          Deferred.await(done)
        )
    )

  return Recorder.of({
    record: (entries, inbox) => entries.length === 0 ? Effect.succeed([]) : submit(entries, undefined, inbox),
    recordGroup: (parts, inbox) =>
      parts.length === 0
        ? Effect.succeed([])
        : submit(parts.flatMap((part) => (part._tag === "Outbound" ? part.entries : [])), parts, inbox)
  })
})

// the fields the log keeps, picked (not the whole envelope spread: this runs for every envelope sent)
const logged = ({ envelope, json, sessionId }: Entry): LoggedEnvelope => ({
  id: envelope.id,
  type: envelope.type,
  session_id: sessionId,
  job_id: envelope.job_id,
  stream_id: envelope.stream_id,
  trace_id: envelope.trace_id,
  correlation_id: envelope.correlation_id,
  timestamp: envelope.timestamp,
  json
})

export const layer: Layer.Layer<Recorder, never, EventLog | EventBus> = Layer.scoped(Recorder, make)
