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
import { Context, Effect, Exit, Layer } from "effect"
import type { Decoded } from "../../protocol/Message.js"
import { EventLog, type EventLogError, type GroupPart, type LoggedEnvelope, loggedOf } from "../../store/EventLog.js"
import * as WakeUp from "../outbound/WakeUp.js"
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
  /** Told the call's outcome by the round that committed it. */
  readonly settle: (outcome: Exit.Exit<ReadonlyArray<number>, EventLogError>) => void
  readonly inbox: Inbox | undefined
}

/** Most record calls one round takes (each round is one commit, then one publish). */
const ROUND = 512

export const make = Effect.gen(function*() {
  const log = yield* EventLog
  const bus = yield* EventBus
  // record calls waiting for a round, in call order; a round runs on one fiber at a time (`busy`)
  let queue: Array<Pending> = []
  let busy = false
  const wake = WakeUp.make()

  /** One commit, then one publish, then each call's inbox and answer: one fiber step past the commit (issue 12). */
  const round = (pending: ReadonlyArray<Pending>): Effect.Effect<void> => {
    const entries = pending.flatMap((p) => p.entries)
    // a round with a mixed group in it is one mixed commit, everything in queue order
    const commit = pending.some((p) => p.parts !== undefined)
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
    return Effect.matchEffect(commit, {
      onFailure: (error) => {
        const sessionIds = [...new Set(entries.map((e) => e.sessionId))]
        return Effect.map(bus.publish({ _tag: "Unrecorded", sessionIds, message: error.message }), () => {
          for (const p of pending) p.settle(Exit.fail(error))
        })
      },
      onSuccess: (positions) => {
        const events: Array<Published> = entries.map((e, i) => ({
          position: positions[i] ?? 0,
          sessionId: e.sessionId,
          principal: e.principal,
          envelope: e.envelope,
          json: e.json
        }))
        return Effect.map(bus.publish({ _tag: "Committed", events }), () => {
          let offset = 0
          for (const p of pending) {
            const end = offset + p.entries.length
            p.inbox?.(events.slice(offset, end))
            p.settle(Exit.succeed(positions.slice(offset, end)))
            offset = end
          }
        })
      }
    })
  }

  /** Takes up to a round's worth from the front of the queue. */
  const takeFront = (room: number) => {
    const taken = queue.length <= room ? queue : queue.slice(0, room)
    queue = queue.length <= room ? [] : queue.slice(room)
    return taken
  }

  /**
   * One round, on whichever fiber calls it, holding `busy` meanwhile: it cannot be interrupted between the
   * commit and the publish. What was queued during it is left to the recorder's fiber.
   */
  const exclusive = (pending: ReadonlyArray<Pending>) =>
    Effect.uninterruptible(
      Effect.flatMap(
        Effect.exit(Effect.suspend(() => {
          busy = true
          return round(pending)
        })),
        (exit) => {
          busy = false
          if (queue.length > 0) wake.signal()
          return exit
        }
      )
    )

  let closed = false
  // added before the fiber starts, so it runs after the fiber is stopped: what is still queued is recorded
  yield* Effect.addFinalizer(() =>
    Effect.suspend(() => {
      closed = true
      return queue.length === 0 ? Effect.void : round(takeFront(queue.length))
    })
  )
  yield* Effect.gen(function*() {
    while (true) {
      yield* wake.next
      while (queue.length > 0 && !busy) yield* exclusive(takeFront(ROUND))
    }
  }).pipe(Effect.forkScoped)

  /**
   * A record call's round runs on the caller's fiber when no round is running (one commit and publish, with
   * whatever waits ahead of it: order holds), saving two hops to the recorder's fiber and back per commit
   * (issue 12); else it waits for the recorder's fiber. The log's `recordOutbound` is traced when its caller
   * is in a span (`TracedLog`), the recorder's fiber never is: a caller in a span with no mixed group waits
   * for the fiber, so no commit is traced that was not before.
   */
  const submit = (entries: ReadonlyArray<Entry>, parts: ReadonlyArray<Part> | undefined, inbox: Inbox | undefined) =>
    Effect.withFiberRuntime<ReadonlyArray<number>, EventLogError>((fiber) => {
      // once the runtime is closing there is no fiber to wait for: the caller records its own round
      const own = closed || (!busy && (parts !== undefined || fiber.currentSpan === undefined))
      if (!own) {
        return Effect.async<ReadonlyArray<number>, EventLogError>((resume) => {
          queue.push({ entries, parts, inbox, settle: resume })
          wake.signal()
        })
      }
      // the round on this fiber settles the call before it ends: its outcome is read, not awaited (an await
      // is ~10 fiber steps even when already done, issue 12)
      let outcome: Exit.Exit<ReadonlyArray<number>, EventLogError> | undefined
      const pending: Pending = { entries, parts, inbox, settle: (exit) => (outcome = exit) }
      const answer = Effect.suspend(() => outcome ?? Effect.dieMessage("a recorder round ended without its answer"))
      if (closed) return Effect.zipRight(round([pending]), answer)
      // then a turn for the fibers the publish woke (followers), as when the recorder's fiber completed the
      // call: a `suspend` follower has taken the batch before its producer asks `Feed.room` again
      return Effect.zipRight(
        exclusive([...takeFront(ROUND - 1), pending]),
        Effect.zipRight(Effect.yieldNow(), answer)
      )
    })

  return Recorder.of({
    record: (entries, inbox) => entries.length === 0 ? Effect.succeed([]) : submit(entries, undefined, inbox),
    recordGroup: (parts, inbox) =>
      parts.length === 0
        ? Effect.succeed([])
        : submit(parts.flatMap((part) => (part._tag === "Outbound" ? part.entries : [])), parts, inbox)
  })
})

const logged = ({ envelope, json, sessionId }: Entry): LoggedEnvelope => loggedOf(envelope, sessionId, json)

export const layer: Layer.Layer<Recorder, never, EventLog | EventBus> = Layer.scoped(Recorder, make)
