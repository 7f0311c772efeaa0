/** Subscription messages (RFC §13): subscribe, accepted, event, unsubscribe, closed. */
import { Schema } from "effect"
import { Envelope, Priority } from "../Envelope.js"
import { CheckpointId, MessageId, SubscriptionId } from "../Ids.js"
import { NonEmptyString } from "./Common.js"

const Ids = Schema.Array(NonEmptyString)

/** Fields are AND-ed, values within one array OR-ed (§13.2). */
export const SubscriptionFilter = Schema.Struct({
  session_id: Schema.optional(Ids),
  job_id: Schema.optional(Ids),
  stream_id: Schema.optional(Ids),
  trace_id: Schema.optional(Ids),
  types: Schema.optional(Ids),
  min_priority: Schema.optional(Priority),
  /**
   * Our addition (peers ignore it): leave out the events of streams of these kinds (§11.4 lets an observer
   * suppress `thought` reasoning); the stream's open, chunks and terminal all go.
   */
  exclude_kinds: Schema.optional(Ids)
})
export type SubscriptionFilter = typeof SubscriptionFilter.Type

export const Subscribe = Schema.Struct({
  filter: SubscriptionFilter,
  since: Schema.optional(
    Schema.Struct({ after_message_id: Schema.optional(MessageId), checkpoint_id: Schema.optional(CheckpointId) })
  )
})

export const SubscribeAccepted = Schema.Struct({ subscription_id: SubscriptionId })

/** The original envelope, unchanged; its envelope is validated, its payload was validated when it was emitted. */
export const SubscribeEvent = Schema.Struct({ event: Envelope })

export const Unsubscribe = Schema.Struct({ subscription_id: SubscriptionId })

export const SubscribeClosed = Schema.Struct({ subscription_id: SubscriptionId, reason: Schema.String })

/** The `event.emit` name marking the end of backfill (§13.3). */
export const BACKFILL_COMPLETE = "subscription.backfill_complete"

export const payloads = {
  subscribe: Subscribe,
  "subscribe.accepted": SubscribeAccepted,
  "subscribe.event": SubscribeEvent,
  unsubscribe: Unsubscribe,
  "subscribe.closed": SubscribeClosed
}
