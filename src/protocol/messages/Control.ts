/** Control messages (RFC §6.2, §10.4, §10.5, §11.2, §19): liveness, acks, cancel, interrupt, resume. */
import { Schema } from "effect"
import { errorFields } from "../Errors.js"
import { CheckpointId, MessageId } from "../Ids.js"
import { Timestamp } from "../Timestamp.js"
import { CancelTarget, JsonValue, NonEmptyString, NonNegativeInt } from "./Common.js"

export const Ping = Schema.Struct({})

/** `pong` and `ack` share one shape: which message, and when it arrived. */
export const Ack = Schema.Struct({ ack_for: MessageId, received_at: Timestamp })

export const Nack = Schema.Struct({ ...errorFields, ack_for: Schema.optional(MessageId) })

export const Cancel = Schema.Struct({
  target: CancelTarget,
  target_id: NonEmptyString,
  reason: Schema.optional(Schema.String),
  deadline_ms: Schema.optional(NonNegativeInt)
})

export const CancelAccepted = Schema.Struct({ target: CancelTarget, target_id: NonEmptyString })

export const CancelRefused = Schema.Struct({
  target: CancelTarget,
  target_id: NonEmptyString,
  reason: Schema.Literal("not_cancellable", "already_terminal", "not_found")
})

export const Interrupt = Schema.Struct({
  target: CancelTarget,
  target_id: NonEmptyString,
  prompt: Schema.optional(Schema.String)
})

export const Resume = Schema.Struct({
  after_message_id: Schema.optional(MessageId),
  checkpoint_id: Schema.optional(CheckpointId),
  include_open_streams: Schema.optional(Schema.Boolean)
})

export const Backpressure = Schema.Struct({
  desired_rate_per_second: Schema.optional(Schema.Number.pipe(Schema.nonNegative())),
  buffer_remaining_bytes: Schema.optional(NonNegativeInt),
  reason: Schema.optional(Schema.String)
})

export const CheckpointCreate = Schema.Struct({
  checkpoint_id: Schema.optional(CheckpointId),
  snapshot: Schema.optional(JsonValue)
})

export const CheckpointRestore = Schema.Struct({ checkpoint_id: CheckpointId })

export const payloads = {
  ping: Ping,
  pong: Ack,
  ack: Ack,
  nack: Nack,
  cancel: Cancel,
  "cancel.accepted": CancelAccepted,
  "cancel.refused": CancelRefused,
  interrupt: Interrupt,
  resume: Resume,
  backpressure: Backpressure,
  "checkpoint.create": CheckpointCreate,
  "checkpoint.restore": CheckpointRestore
}
