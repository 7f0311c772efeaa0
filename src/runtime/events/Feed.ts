/**
 * The one read primitive of the event path: `follow(filter, after)`
 * subscribes to the `EventBus` first, backfills from the `EventLog` what was
 * committed after the position, then hands over to live events with no gap
 * and no duplicate (an event at or below the last position handed out is
 * dropped at the boundary). Retransmit replay, repeated idempotency keys,
 * subscriptions (§13) and resume (§19) read through it.
 *
 * Visibility is decided here, once, for every reader: a viewer sees the
 * events of its own principal's sessions, and of other principals' sessions
 * only where its `observes` grant says so.
 *
 * Each follower has a bounded queue. What happens when it fills is the
 * follower's policy: "suspend" (a session's own connection) — producers wait
 * in `Feed.room` before emitting, and only unconditional answers can go past
 * the capacity, up to twice it; "fail" (a subscription) — the follower is
 * closed with reason "Overflow" (its owner answers BACKPRESSURE_OVERFLOW).
 */
import { Chunk, Context, Deferred, Effect, Either, FiberId, Layer, Schema, type Scope, Stream } from "effect"
import { decodeJson } from "../../protocol/Message.js"
import {
  EventLog,
  type EventLogError,
  type EventQuery,
  MAX_PAGE,
  readAll,
  type StoredEvent
} from "../../store/EventLog.js"
import type { Room } from "../outbound/OutboundApi.js"
import { EventBus, type Published } from "./EventBus.js"

/** Which events a follower wants: AND across the fields given, OR within one. */
export interface Filter {
  readonly session_id?: ReadonlyArray<string> | undefined
  readonly job_id?: ReadonlyArray<string> | undefined
  readonly stream_id?: ReadonlyArray<string> | undefined
  readonly trace_id?: ReadonlyArray<string> | undefined
  /** The answers to these message ids. */
  readonly correlation_id?: ReadonlyArray<string> | undefined
  readonly types?: ReadonlyArray<string> | undefined
}

/** Who is reading. */
export interface Viewer {
  readonly principal: string
  /** An observer grant: whether the viewer may also see session `sessionId` of principal `owner`. */
  readonly observes?: ((owner: string, sessionId: string) => boolean) | undefined
  /** The runtime itself (its job-control follower): the only viewer shown control envelopes. */
  readonly runtime?: true | undefined
}

/**
 * The type of the runtimes' own job-control envelopes (durable/JobControl): recorded in a job's session
 * so that they travel the event path to the runtime running the job, and shown to no client.
 */
export const CONTROL_TYPE = "arcpx.arcp.control.v1"

/** The viewer of the runtime's job-control follower: every session, control envelopes included. */
export const RUNTIME_VIEWER: Viewer = { principal: "", observes: () => true, runtime: true }

export type Overflow = "suspend" | "fail"

export interface FollowOptions {
  readonly filter: Filter
  /** Backfill what was committed after this position (0: from the start), or "live": only what comes next. */
  readonly after: number | "live"
  readonly viewer: Viewer
  readonly overflow: Overflow
  /** The queue's bound, in events (default DEFAULT_CAPACITY). */
  readonly capacity?: number | undefined
  /**
   * The consumer's own buffer past the queue (its session's outbound path): `Feed.room` waits for its room too,
   * and `Feed.roomNow` asks it.
   */
  readonly buffer?: Pick<Room, "room" | "roomNow"> | undefined
}

export type FeedItem =
  | { readonly _tag: "Event"; readonly event: Published }
  /** The backfill is done: everything after is live. `position` is the last one backfilled (or `after`). */
  | { readonly _tag: "CaughtUp"; readonly position: number }

/** Why a follower stopped: its queue overflowed (policy "fail", or twice the capacity), events it would get were not recorded, or the log could not be read. */
export class FeedClosed extends Schema.TaggedError<FeedClosed>()("FeedClosed", {
  reason: Schema.Literal("Overflow", "Unrecorded", "Unavailable"),
  message: Schema.String
}) {}

export interface Follower {
  /** Waits for at least one item, then returns every queued item, in order; fails once the follower is closed and drained. */
  readonly take: Effect.Effect<ReadonlyArray<FeedItem>, FeedClosed>
  /** The same items as a stream. */
  readonly stream: Stream.Stream<FeedItem, FeedClosed>
  /** Suspends while the queue is full (and while the consumer's own room is). */
  readonly room: Effect.Effect<void>
  /** Items queued now. */
  readonly size: Effect.Effect<number>
}

/** Where a producer is about to emit: `Feed.room` waits for the suspending followers that would get it. */
export interface Target {
  readonly sessionId: string
  readonly principal: string
  readonly jobId?: string | undefined
  readonly streamId?: string | undefined
  readonly traceId?: string | undefined
}

export class Feed extends Context.Tag("arcp/Feed")<Feed, {
  /** Starts following for the life of the scope (the backfill runs on its own fiber; read errors close the follower). */
  readonly follow: (options: FollowOptions) => Effect.Effect<Follower, never, Scope.Scope>
  /** What is committed now (after `after`, default 0) that the viewer may see, in order: a backfill with no live part. */
  readonly history: (
    filter: Filter,
    viewer: Viewer,
    after?: number
  ) => Effect.Effect<ReadonlyArray<Published>, EventLogError>
  /** Suspends until every "suspend" follower that would receive an event of `target` has room. */
  readonly room: (target: Target) => Effect.Effect<void>
  /** Whether `room(target)` would complete at once: a producer's check with no fiber step (issue 12). */
  readonly roomNow: (target: Target) => boolean
}>() {}

export const DEFAULT_CAPACITY = 1024

/** The one visibility rule: a viewer's own principal's sessions, plus what its observer grant allows. */
export const visible = (viewer: Viewer, owner: string | undefined, sessionId: string): boolean =>
  owner !== undefined && (owner === viewer.principal || viewer.observes?.(owner, sessionId) === true)

/** Whether the viewer is shown `event`: visible to it, and not the runtime's own control traffic unless it is the runtime. */
export const shown = (viewer: Viewer, event: Published): boolean =>
  (event.envelope.type !== CONTROL_TYPE || viewer.runtime === true) &&
  visible(viewer, event.principal, event.sessionId)

const within = (allowed: ReadonlyArray<string> | undefined, value: string | undefined) =>
  allowed === undefined || (value !== undefined && allowed.includes(value))

/** Whether a published event passes a filter (visibility aside). */
export const matches = (filter: Filter, event: Published): boolean =>
  within(filter.session_id, event.sessionId) && within(filter.job_id, event.envelope.job_id) &&
  within(filter.stream_id, event.envelope.stream_id) && within(filter.trace_id, event.envelope.trace_id) &&
  within(filter.correlation_id, event.envelope.correlation_id) && within(filter.types, event.envelope.type)

/** Whether an event of `target` could pass a filter (its type is not known yet). */
const couldMatch = (filter: Filter, target: Target) =>
  within(filter.session_id, target.sessionId) && within(filter.job_id, target.jobId) &&
  within(filter.stream_id, target.streamId) && within(filter.trace_id, target.traceId)

/** A stored row as the bus would have carried it (None when it no longer decodes or has no owner). */
export const fromStored = (row: StoredEvent): Published | undefined => {
  const envelope = decodeJson(row.json)
  if (Either.isLeft(envelope) || row.principal === undefined) return undefined
  return {
    position: row.position,
    sessionId: row.session_id,
    principal: row.principal,
    envelope: envelope.right,
    json: row.json
  }
}

/** The log query of a filter: outbound envelopes only (what the runtime sent), a page after `after`. */
const queryOf = (filter: Filter, after: number, limit: number): EventQuery => ({
  session_id: filter.session_id,
  job_id: filter.job_id,
  stream_id: filter.stream_id,
  trace_id: filter.trace_id,
  correlation_id: filter.correlation_id,
  types: filter.types,
  direction: "out",
  after,
  limit
})

interface Registered {
  readonly options: FollowOptions
  readonly room: Effect.Effect<void>
  readonly roomNow: () => boolean
}

export const make = Effect.gen(function*() {
  const log = yield* EventLog
  const bus = yield* EventBus
  // the "suspend" followers, which producers wait for
  const suspending = new Set<Registered>()

  const follow = Effect.fnUntraced(function*(options: FollowOptions) {
    const { filter, viewer } = options
    const capacity = Math.max(1, options.capacity ?? DEFAULT_CAPACITY)
    const hardLimit = options.overflow === "fail" ? capacity : 2 * capacity
    const wanted = (event: Published) => matches(filter, event) && shown(viewer, event)
    // subscribed before the backfill reads: whatever commits after the read is heard live; woken only by the
    // batches that hold something for this follower (not every commit of the runtime, issue 12)
    const subscription = yield* bus.subscribe(wanted)
    let items: Array<FeedItem> = []
    let closed: FeedClosed | undefined
    let taker: Deferred.Deferred<void> | undefined
    let roomWaiters: Array<Deferred.Deferred<void>> = []

    const wakeTaker = () => {
      if (taker === undefined) return
      Deferred.unsafeDone(taker, Effect.void)
      taker = undefined
    }
    const wakeRoom = () => {
      if (roomWaiters.length === 0 || (items.length >= capacity && closed === undefined)) return
      const ready = roomWaiters
      roomWaiters = []
      for (const w of ready) Deferred.unsafeDone(w, Effect.void)
    }
    const close = (reason: FeedClosed["reason"], message: string) => {
      closed ??= new FeedClosed({ reason, message })
      wakeTaker()
      wakeRoom()
    }
    /** Queues a live item under the policy; false once closed. */
    const pushLive = (item: FeedItem) => {
      if (closed !== undefined) return false
      if (items.length >= hardLimit) {
        close("Overflow", `the follower's queue of ${capacity} events is full`)
        return false
      }
      items.push(item)
      wakeTaker()
      return true
    }
    const queueRoom: Effect.Effect<void> = Effect.suspend(() => {
      if (items.length < capacity || closed !== undefined) return Effect.void
      const ready = Deferred.unsafeMake<void>(FiberId.none)
      roomWaiters.push(ready)
      return Deferred.await(ready)
    })
    const { buffer } = options
    const room = buffer === undefined ? queueRoom : Effect.zipRight(queueRoom, buffer.room)

    const take: Effect.Effect<ReadonlyArray<FeedItem>, FeedClosed> = Effect.suspend(() => {
      if (items.length > 0) {
        const out = items
        items = []
        wakeRoom()
        return Effect.succeed(out)
      }
      if (closed !== undefined) return Effect.fail(closed)
      const wake = Deferred.unsafeMake<void>(FiberId.none)
      taker = wake
      return Effect.zipRight(Deferred.await(wake), take)
    })

    const run = Effect.gen(function*() {
      let last = 0
      if (options.after !== "live") {
        last = Math.max(0, options.after)
        // page by page, each item waiting for room: a backfill never overflows, it goes at the reader's pace
        while (closed === undefined) {
          const page = yield* log.read(queryOf(filter, last, PAGE))
          for (const row of page) {
            last = row.position
            const event = fromStored(row)
            if (event === undefined || !shown(viewer, event)) continue
            yield* queueRoom
            if (closed !== undefined) return
            items.push({ _tag: "Event", event })
            wakeTaker()
          }
          if (page.length < PAGE) break
        }
        if (!pushLive({ _tag: "CaughtUp", position: last })) return
      }
      while (closed === undefined) {
        const message = yield* subscription.take
        if (message._tag === "Unrecorded") {
          if (message.sessionIds.some((id) => filter.session_id?.includes(id) === true)) {
            close("Unrecorded", `events of this session could not be recorded: ${message.message}`)
          }
          continue
        }
        for (const event of message.events) {
          // the boundary: what the backfill handed out (or an earlier live batch) is not handed out again
          if (event.position <= last) continue
          last = event.position
          if (wanted(event) && !pushLive({ _tag: "Event", event })) return
        }
      }
    }).pipe(
      Effect.catchAll((e) => Effect.sync(() => close("Unavailable", `cannot read the event log: ${e.message}`)))
    )
    yield* Effect.forkScoped(run)
    yield* Effect.addFinalizer(() => Effect.sync(() => close("Unavailable", "the follower was closed")))

    if (options.overflow === "suspend") {
      const registered: Registered = {
        options,
        room,
        roomNow: () =>
          closed !== undefined || (items.length < capacity && (buffer === undefined || buffer.roomNow(false)))
      }
      suspending.add(registered)
      yield* Effect.addFinalizer(() => Effect.sync(() => suspending.delete(registered)))
    }

    return {
      take,
      stream: Stream.repeatEffectChunk(Effect.map(take, Chunk.fromIterable)),
      room,
      size: Effect.sync(() => items.length)
    }
  })

  /** Whether follower `r` would receive an event of `target`: the followers a producer waits for. */
  const waitsFor = (r: Registered, target: Target) =>
    couldMatch(r.options.filter, target) && visible(r.options.viewer, target.principal, target.sessionId)

  const room = (target: Target): Effect.Effect<void> =>
    Effect.suspend(() => {
      const waits: Array<Effect.Effect<void>> = []
      for (const r of suspending) if (waitsFor(r, target)) waits.push(r.room)
      return waits.length === 0 ? Effect.void : Effect.forEach(waits, (w) => w, { discard: true })
    })

  const roomNow = (target: Target): boolean => {
    for (const r of suspending) if (waitsFor(r, target) && !r.roomNow()) return false
    return true
  }

  const history = (filter: Filter, viewer: Viewer, after = 0) =>
    Effect.map(readAll(log, queryOf(filter, after, MAX_PAGE)), (rows) =>
      rows.flatMap((row) => {
        const event = fromStored(row)
        return event !== undefined && shown(viewer, event) ? [event] : []
      }))

  return Feed.of({ follow, history, room, roomNow })
})

/** Rows per backfill read. */
const PAGE = Math.min(256, MAX_PAGE)

export const layer: Layer.Layer<Feed, never, EventLog | EventBus> = Layer.effect(Feed, make)
