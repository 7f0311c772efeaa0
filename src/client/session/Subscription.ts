/**
 * The client side of subscriptions (RFC §13): `subscribe` sends the filter,
 * then hands on the observed events — backfill, the end-of-backfill marker,
 * live — and unsubscribes when the consumer stops. A subscription does not
 * outlive its connection at the runtime; when the client reconnects and
 * resumes its session (§19), `subscribe` subscribes again after the last
 * event it handed on, so the consumer's stream goes on with nothing lost or
 * repeated.
 */
import { Effect, Either, Option, type Scope, Stream } from "effect"
import { make as makeEnvelope } from "../../protocol/Envelope.js"
import { ArcpError, isCanonical } from "../../protocol/Errors.js"
import { CheckpointId, MessageId, type SubscriptionId } from "../../protocol/Ids.js"
import { decode, type Decoded, isCore } from "../../protocol/Message.js"
import { BACKFILL_COMPLETE, type SubscriptionFilter } from "../../protocol/messages/Subscriptions.js"

export type { SubscriptionFilter } from "../../protocol/messages/Subscriptions.js"

/**
 * Where a subscription starts (§13.3): after a message id, after a checkpoint's `job.checkpoint` event, or
 * (`{}`) from the start of the log, each backfilled and followed by the end-of-backfill marker; no `since`
 * at all: live events only.
 */
export interface SubscribeSince {
  readonly after_message_id?: string | undefined
  readonly checkpoint_id?: string | undefined
}

/** Whether an observed event is the marker between backfill and live (§13.3). */
export const isBackfillComplete = (event: Decoded): boolean =>
  event.type === "event.emit" && Reflect.get(event.payload, "name") === BACKFILL_COMPLETE

/** The mark the client puts among the session's messages where a reconnect resumed the session. */
export const Resumed = { _tag: "Resumed" } as const
export type Resumed = typeof Resumed

/** Whether an item of the marked message stream is a message (not the `Resumed` mark). */
export const isMessage = (item: Decoded | Resumed): item is Decoded => item !== Resumed

/** What `subscribe` needs of the session. */
export interface SubscriptionDeps<E> {
  /**
   * Every message from now on, subscribed in the caller's scope, with `Resumed` right after the ack of
   * the `resume` that followed a reconnect (so in order with the messages around it).
   */
  readonly messages: Effect.Effect<Stream.Stream<Decoded | Resumed>, never, Scope.Scope>
  /** Sends an envelope and waits for its first correlated answer (a nack fails with its ArcpError). */
  readonly sendAndAwait: (envelope: Decoded) => Effect.Effect<Decoded, ArcpError | E>
  /** Sends without waiting for an answer. */
  readonly send: (envelope: Decoded) => Effect.Effect<void, E>
  readonly unexpected: (expected: string, got: Decoded) => E
}

/** The observed envelope inside a `subscribe.event`, decoded as a message when it is one. */
const observed = (wrapper: Decoded): Decoded | undefined => {
  const event: unknown = Reflect.get(wrapper.payload, "event")
  if (typeof event !== "object" || event === null) return undefined
  return Either.getOrUndefined(decode(event))
}

/**
 * Subscribes with `filter` (and `since`) and returns the observed events in log
 * order: the backfill, the `subscription.backfill_complete` marker (when `since`
 * was given), then live ones. Fails with the nack's ArcpError (PERMISSION_DENIED
 * for a filter beyond what this principal may observe), and with an ArcpError
 * of the reason when the runtime closes the subscription (`subscribe.closed`,
 * e.g. BACKPRESSURE_OVERFLOW). Ending the stream sends `unsubscribe`.
 *
 * Across a reconnect: at the `Resumed` mark it subscribes again, `since` the last event it handed on (before
 * any: where it first started — its own `since`, or its `subscribe` request for a live one); what the old
 * subscription still delivers (the session's replay) is left to the new one's backfill, and the new one's
 * end-of-backfill marker is handed on only if the first one's was not.
 */
export const subscribe = <E>(
  deps: SubscriptionDeps<E>,
  filter: SubscriptionFilter,
  since?: SubscribeSince
): Stream.Stream<Decoded, ArcpError | E> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    // subscribed before sending: the first events may follow the acceptance at once
    const messages = yield* deps.messages
    const open = Effect.fnUntraced(function*(from: SubscribeSince | undefined) {
      const request = yield* makeEnvelope("subscribe", {
        filter,
        // `since` with no message id backfills from the start of what the subscriber may see
        ...(from === undefined ? {} : {
          since: {
            ...(from.after_message_id === undefined
              ? {}
              : { after_message_id: MessageId.make(from.after_message_id) }),
            ...(from.checkpoint_id === undefined ? {} : { checkpoint_id: CheckpointId.make(from.checkpoint_id) })
          }
        })
      })
      const reply = yield* deps.sendAndAwait(request)
      if (!isCore(reply) || reply.type !== "subscribe.accepted") {
        return yield* Effect.fail(deps.unexpected("subscribe.accepted", reply))
      }
      return { id: reply.payload.subscription_id, request: request.id }
    })
    const first = yield* open(since)
    let id: SubscriptionId = first.id
    // where a subscription taken up again starts before any event was handed on
    const origin: SubscribeSince = since ?? { after_message_id: first.request }
    let last: string | undefined
    // a live subscription has no marker to hand on
    let markerHandedOn = since === undefined
    let closed = false
    yield* Effect.addFinalizer(() =>
      closed ? Effect.void : Effect.flatMap(
        makeEnvelope("unsubscribe", { subscription_id: id }),
        (envelope) => Effect.ignore(deps.send(envelope))
      )
    )
    const handle = (m: Decoded | Resumed): Effect.Effect<Option.Option<Decoded>, ArcpError | E> => {
      if (!isMessage(m)) {
        // the old subscription ended with the lost connection: a new one picks up after the last event
        return Effect.map(open(last === undefined ? origin : { after_message_id: last }), (taken) => {
          id = taken.id
          return Option.none()
        })
      }
      if (m.subscription_id !== id) return Effect.succeed(Option.none())
      if (isCore(m) && m.type === "subscribe.closed") {
        closed = true
        const reason = m.payload.reason
        return Effect.fail(ArcpError.of(
          isCanonical(reason) ? reason : "UNAVAILABLE",
          `the runtime closed subscription ${id}: ${reason}`
        ))
      }
      const event = m.type === "subscribe.event" ? observed(m) : undefined
      if (event === undefined) return Effect.succeed(Option.none())
      if (isBackfillComplete(event)) {
        if (markerHandedOn) return Effect.succeed(Option.none())
        markerHandedOn = true
      } else {
        last = event.id
      }
      return Effect.succeed(Option.some(event))
    }
    return messages.pipe(Stream.mapEffect(handle), Stream.filterMap((o) => o))
  }))
