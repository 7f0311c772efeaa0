/**
 * The client side of subscriptions (RFC §13): `subscribe` sends the filter,
 * then hands on the observed events — backfill, the end-of-backfill marker,
 * live — and unsubscribes when the consumer stops.
 */
import { Effect, Either, Option, type Scope, Stream } from "effect"
import { make as makeEnvelope } from "../protocol/Envelope.js"
import { ArcpError, isCanonical } from "../protocol/Errors.js"
import { CheckpointId, MessageId, type SubscriptionId } from "../protocol/Ids.js"
import { decode, type Decoded, isCore } from "../protocol/Message.js"
import { BACKFILL_COMPLETE, type SubscriptionFilter } from "../protocol/messages/Subscriptions.js"

export type { SubscriptionFilter } from "../protocol/messages/Subscriptions.js"

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

/** What `subscribe` needs of the session. */
export interface SubscriptionDeps<E> {
  /** Every message from now on, subscribed in the caller's scope. */
  readonly messages: Effect.Effect<Stream.Stream<Decoded>, never, Scope.Scope>
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
 */
export const subscribe = <E>(
  deps: SubscriptionDeps<E>,
  filter: SubscriptionFilter,
  since?: SubscribeSince
): Stream.Stream<Decoded, ArcpError | E> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    // subscribed before sending: the first events may follow the acceptance at once
    const messages = yield* deps.messages
    const request = yield* makeEnvelope("subscribe", {
      filter,
      // `since` with no message id backfills from the start of what the subscriber may see
      ...(since === undefined ? {} : {
        since: {
          ...(since.after_message_id === undefined ? {} : { after_message_id: MessageId.make(since.after_message_id) }),
          ...(since.checkpoint_id === undefined ? {} : { checkpoint_id: CheckpointId.make(since.checkpoint_id) })
        }
      })
    })
    const reply = yield* deps.sendAndAwait(request)
    if (!isCore(reply) || reply.type !== "subscribe.accepted") {
      return yield* Effect.fail(deps.unexpected("subscribe.accepted", reply))
    }
    const id: SubscriptionId = reply.payload.subscription_id
    let closed = false
    yield* Effect.addFinalizer(() =>
      closed ? Effect.void : Effect.flatMap(
        makeEnvelope("unsubscribe", { subscription_id: id }),
        (envelope) => Effect.ignore(deps.send(envelope))
      )
    )
    return messages.pipe(
      Stream.filter((m) => m.subscription_id === id),
      Stream.takeUntil((m) => m.type === "subscribe.closed"),
      Stream.mapEffect((m): Effect.Effect<Option.Option<Decoded>, ArcpError> => {
        if (isCore(m) && m.type === "subscribe.closed") {
          closed = true
          const reason = m.payload.reason
          return Effect.fail(ArcpError.of(
            isCanonical(reason) ? reason : "UNAVAILABLE",
            `the runtime closed subscription ${id}: ${reason}`
          ))
        }
        return Effect.succeed(m.type === "subscribe.event" ? Option.fromNullable(observed(m)) : Option.none())
      }),
      Stream.filterMap((o) => o)
    )
  }))
