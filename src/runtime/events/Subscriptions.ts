/**
 * Subscriptions (RFC §13): `subscribe` checks the filter against what the
 * principal may observe (PERMISSION_DENIED otherwise), follows the event path
 * through `Feed` (backfill after `since`, the `subscription.backfill_complete`
 * marker, then live) and delivers each matching event as `subscribe.event`;
 * `unsubscribe`, and `subscribe.closed` with a reason on eviction, auth
 * expiry, overflow of the subscription's bounded queue, or a log failure.
 */
import { Context, Effect, Either, Exit, Layer, Option, Scope, Stream } from "effect"
import { make as makeEnvelope } from "../../protocol/Envelope.js"
import { ArcpError } from "../../protocol/Errors.js"
import { makeSubscriptionId, SessionId, type SubscriptionId } from "../../protocol/Ids.js"
import { type Decoded, decodeJson, type Message } from "../../protocol/Message.js"
import { BACKFILL_COMPLETE, type SubscriptionFilter } from "../../protocol/messages/Subscriptions.js"
import { now } from "../../protocol/Timestamp.js"
import { EventLog, MAX_PAGE, type StoredEvent } from "../../store/EventLog.js"
import type { Principal } from "../auth/Auth.js"
import type { Outbound } from "../outbound/Outbound.js"
import { RuntimeConfig } from "../RuntimeConfig.js"
import { Sessions } from "../Sessions.js"
import { Streams } from "../Streams.js"
import { SPAN_TYPE, SpanWatchers } from "../tracing/SpanWatchers.js"
import { Feed, type FeedClosed, type Viewer } from "./Feed.js"
import * as Filter from "./Filter.js"
import { HumanAudience } from "./HumanAudience.js"
import { canObserve, type Viewer as Observer } from "./Observation.js"

/** The subscribing session, as the route sees it. */
export interface Subscriber {
  readonly sessionId: SessionId
  readonly principal: Principal
  /** The subscriber's own outbound path: deliveries wait for its room, so a slow reader fills the queue. */
  readonly outbound: Pick<Outbound, "emit" | "room">
}

export class Subscriptions extends Context.Tag("arcp/Subscriptions")<Subscriptions, {
  /**
   * Answers `subscribe`: `subscribe.accepted`, then the deliveries. PERMISSION_DENIED when the filter names
   * a session or job the principal may not observe (or that does not exist: the two are not told apart),
   * NOT_FOUND for an unknown `since.after_message_id`, RESOURCE_EXHAUSTED past the per-session limit.
   */
  readonly subscribe: (message: Message<"subscribe">, subscriber: Subscriber) => Effect.Effect<void, ArcpError>
  /** Answers `unsubscribe` with an ack once deliveries have stopped; NOT_FOUND for a subscription not this session's. */
  readonly unsubscribe: (message: Message<"unsubscribe">, subscriber: Subscriber) => Effect.Effect<void, ArcpError>
  /**
   * Ends every subscription of a session: with a `reason` (the eviction's code), each gets
   * `subscribe.closed` first (§13.4); without one (the connection is gone) they just stop.
   */
  readonly endSession: (sessionId: SessionId, reason?: string) => Effect.Effect<void>
}>() {}

interface Live {
  readonly id: SubscriptionId
  readonly subscriber: Subscriber
  readonly scope: Scope.CloseableScope
}

/** Deliveries are never observed again: a subscription to its own session would feed on itself. */
const UNOBSERVED: ReadonlySet<string> = new Set(["subscribe.event"])

/** Why a follower stopped, as the `subscribe.closed` reason code. */
const reasonOf = (closed: FeedClosed): string =>
  closed.reason === "Overflow" ? "BACKPRESSURE_OVERFLOW" : closed.reason === "Unrecorded" ? "DATA_LOSS" : "UNAVAILABLE"

const denied = (what: string) =>
  ArcpError.of("PERMISSION_DENIED", `this principal may not observe ${what}`, { details: { reason: "not_observable" } })

export const make = Effect.gen(function*() {
  const feed = yield* Feed
  const log = yield* EventLog
  const sessions = yield* Sessions
  const streams = yield* Streams
  const audience = yield* HumanAudience
  const { maxSubscriptionsPerSession, subscriptionQueue } = yield* RuntimeConfig
  const serviceScope = yield* Effect.scope
  const spanWatchers = yield* Effect.serviceOption(SpanWatchers)
  const live = new Map<SubscriptionId, Live>()
  const bySession = new Map<SessionId, Set<SubscriptionId>>()
  const unavailable = (e: { readonly message: string }) =>
    ArcpError.of("UNAVAILABLE", `cannot read the event log: ${e.message}`)

  yield* Effect.addFinalizer(() =>
    Effect.forEach([...live.values()], (s) => Scope.close(s.scope, Exit.void), { discard: true })
  )

  const observerOf = (principal: Principal): Observer => ({ principal: principal.id, observes: principal.observes })
  const viewerOf = (principal: Principal): Viewer => {
    const observer = observerOf(principal)
    return { principal: principal.id, observes: (owner) => canObserve(observer, owner) }
  }

  /** The principal owning a session: the live registry, else the log (undefined when it never existed). */
  const ownerOfSession = Effect.fnUntraced(function*(sessionId: string) {
    const handle = yield* sessions.get(SessionId.make(sessionId))
    if (Option.isSome(handle)) return (yield* handle.value.principal).id
    const rows = yield* log.read({ session_id: [sessionId], limit: 1 }).pipe(Effect.mapError(unavailable))
    return rows[0]?.principal
  })

  /** §13.2: every session and job the filter names must be observable by the subscriber. */
  const authorize = Effect.fnUntraced(function*(filter: SubscriptionFilter, principal: Principal) {
    const observer = observerOf(principal)
    for (const sessionId of filter.session_id ?? []) {
      const owner = yield* ownerOfSession(sessionId)
      if (owner === undefined || !canObserve(observer, owner)) return yield* denied(`session ${sessionId}`)
    }
    for (const jobId of filter.job_id ?? []) {
      const job = yield* log.getJob(jobId).pipe(Effect.mapError(unavailable))
      if (Option.isNone(job) || !canObserve(observer, job.value.principal)) return yield* denied(`job ${jobId}`)
    }
  })

  /** A row of the log as the subscriber may see it (undefined: no such row, or not observable). */
  const visibleRow = (rows: ReadonlyArray<StoredEvent>, principal: Principal) => {
    const row = rows[0]
    return row !== undefined && row.principal !== undefined && canObserve(observerOf(principal), row.principal)
      ? row
      : undefined
  }

  /**
   * The position of checkpoint `checkpointId`: its `job.checkpoint` event, looked for among the checkpoints of
   * the sessions / jobs the filter names (or all the subscriber may see), page by page.
   */
  const checkpointPosition = Effect.fnUntraced(
    function*(checkpointId: string, filter: SubscriptionFilter, principal: Principal) {
      let after = 0
      while (true) {
        const page = yield* log.read({
          types: ["job.checkpoint"],
          direction: "out",
          session_id: filter.session_id,
          job_id: filter.job_id,
          after,
          limit: MAX_PAGE
        }).pipe(Effect.mapError(unavailable))
        for (const row of page) {
          after = row.position
          if (!row.json.includes(checkpointId)) continue
          const envelope = decodeJson(row.json)
          if (Either.isLeft(envelope) || Reflect.get(envelope.right.payload, "checkpoint_id") !== checkpointId) continue
          return visibleRow([row], principal)?.position
        }
        if (page.length < MAX_PAGE) return undefined
      }
    }
  )

  /**
   * The position `since` names: after the message `after_message_id`, or after the `job.checkpoint` event of
   * `checkpoint_id` (both given: the message id wins); `since: {}` is the start of the log. NOT_FOUND when the
   * subscriber may not see it (unknown and unobservable are not told apart).
   */
  const startOf = Effect.fnUntraced(function*(message: Message<"subscribe">, principal: Principal) {
    const since = message.payload.since
    if (since === undefined) return "live" as const
    if (since.after_message_id !== undefined) {
      const rows = yield* log.read({ id: [since.after_message_id], limit: 1 }).pipe(Effect.mapError(unavailable))
      const row = visibleRow(rows, principal)
      if (row === undefined) {
        return yield* ArcpError.of("NOT_FOUND", `no message ${since.after_message_id} to start after`)
      }
      return row.position
    }
    if (since.checkpoint_id !== undefined) {
      const position = yield* checkpointPosition(since.checkpoint_id, message.payload.filter, principal)
      if (position === undefined) {
        return yield* ArcpError.of("NOT_FOUND", `no checkpoint ${since.checkpoint_id} to start after`)
      }
      return position
    }
    return 0
  })

  const forget = (id: SubscriptionId, sessionId: SessionId) =>
    Effect.sync(() => {
      live.delete(id)
      const mine = bySession.get(sessionId)
      mine?.delete(id)
      if (mine?.size === 0) bySession.delete(sessionId)
    })

  /** Delivers one observed envelope, waiting for room on the subscriber's connection. */
  const deliver = Effect.fnUntraced(function*(subscription: Live, event: Decoded) {
    const { outbound } = subscription.subscriber
    yield* outbound.room
    if (event.type === "human.input.request" || event.type === "human.choice.request") {
      yield* audience.delivered(event.id)
    }
    yield* outbound.emit("subscribe.event", { event }, { subscription_id: subscription.id })
  })

  /** The marker between backfill and live (§13.3): a synthetic event.emit, addressed to the subscriber. */
  const marker = Effect.fnUntraced(function*(subscription: Live, position: number) {
    const event = yield* makeEnvelope("event.emit", { name: BACKFILL_COMPLETE, data: { position } }, {
      session_id: subscription.subscriber.sessionId
    })
    yield* deliver(subscription, event)
  })

  const subscribe = Effect.fn("Subscriptions.subscribe")(function*(
    message: Message<"subscribe">,
    subscriber: Subscriber
  ) {
    const { filter } = message.payload
    const principal = subscriber.principal
    const mine = bySession.get(subscriber.sessionId)
    if ((mine?.size ?? 0) >= maxSubscriptionsPerSession) {
      return yield* ArcpError.of(
        "RESOURCE_EXHAUSTED",
        `this session already has ${maxSubscriptionsPerSession} subscriptions, the limit`,
        { details: { max_subscriptions_per_session: maxSubscriptionsPerSession } }
      )
    }
    yield* authorize(filter, principal)
    const after = yield* startOf(message, principal)
    const id = yield* makeSubscriptionId
    const scope = yield* Scope.make()
    const subscription: Live = { id, subscriber, scope }
    live.set(id, subscription)
    if (mine === undefined) bySession.set(subscriber.sessionId, new Set([id]))
    else mine.add(id)
    // following (subscribed to the bus) before the acceptance goes out: nothing after it is missed
    const follower = yield* feed.follow({
      filter: {
        session_id: filter.session_id,
        job_id: filter.job_id,
        stream_id: filter.stream_id,
        trace_id: filter.trace_id,
        types: filter.types
      },
      after,
      viewer: viewerOf(principal),
      overflow: "fail",
      capacity: subscriptionQueue
    }).pipe(Scope.extend(scope))
    // a subscription naming trace.span has every session's spans recorded while it lives (tracing/SpanWatchers)
    if (Option.isSome(spanWatchers) && (filter.types ?? []).includes(SPAN_TYPE)) {
      yield* spanWatchers.value.watch.pipe(Scope.extend(scope))
    }
    yield* subscriber.outbound.emit("subscribe.accepted", { subscription_id: id }, { correlation_id: message.id })
    const matcher = Filter.make(filter, streams.kindOf)
    yield* follower.stream.pipe(
      Stream.runForEach((item) => {
        if (item._tag === "CaughtUp") return marker(subscription, item.position)
        const event = item.event.envelope
        return UNOBSERVED.has(event.type) || !matcher.matches(event) ? Effect.void : deliver(subscription, event)
      }),
      Effect.catchAll((closed) =>
        Effect.gen(function*() {
          if (!live.has(id)) return
          yield* forget(id, subscriber.sessionId)
          yield* subscriber.outbound.emit("subscribe.closed", { subscription_id: id, reason: reasonOf(closed) }, {
            subscription_id: id,
            priority: "critical"
          })
          // the follower's own scope is closed from outside it: this fiber lives in it
          yield* Effect.forkIn(Scope.close(scope, Exit.void), serviceScope)
        })
      ),
      Effect.forkIn(scope)
    )
  })

  const close = Effect.fnUntraced(function*(subscription: Live, reason: string | undefined) {
    yield* forget(subscription.id, subscription.subscriber.sessionId)
    yield* Scope.close(subscription.scope, Exit.void)
    if (reason !== undefined) {
      yield* subscription.subscriber.outbound.emit("subscribe.closed", { subscription_id: subscription.id, reason }, {
        subscription_id: subscription.id,
        priority: "critical"
      })
    }
  })

  return Subscriptions.of({
    subscribe,
    unsubscribe: Effect.fn("Subscriptions.unsubscribe")(function*(message, subscriber) {
      const id = message.payload.subscription_id
      const subscription = live.get(id)
      if (subscription === undefined || subscription.subscriber.sessionId !== subscriber.sessionId) {
        return yield* ArcpError.of("NOT_FOUND", `no subscription ${id} in this session`)
      }
      yield* close(subscription, undefined)
      yield* subscriber.outbound.emit("ack", { ack_for: message.id, received_at: yield* now }, {
        correlation_id: message.id
      })
    }),
    endSession: (sessionId, reason) =>
      Effect.suspend(() =>
        Effect.forEach(
          [...(bySession.get(sessionId) ?? [])].flatMap((id) => live.get(id) ?? []),
          (subscription) => close(subscription, reason),
          { discard: true }
        )
      )
  })
})

export const layer: Layer.Layer<
  Subscriptions,
  never,
  Feed | EventLog | Sessions | Streams | HumanAudience | RuntimeConfig
> = Layer.scoped(Subscriptions, make)
