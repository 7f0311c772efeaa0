/** Streaming messages (RFC §11): open, chunk, close, error. */
import { Schema } from "effect"
import { errorFields } from "../Errors.js"
import { JobId } from "../Ids.js"
import { JsonValue, NonEmptyString, NonNegativeInt } from "./Common.js"

/** The kinds of §11.1. Receivers treat any other kind as `event`. */
export const streamKinds = ["text", "binary", "event", "log", "metric", "thought"] as const
export type StreamKind = (typeof streamKinds)[number]

/** The kind a receiver acts on: unknown kinds read as `event` (§11.1). */
export const isStreamKind = (kind: string): kind is StreamKind => streamKinds.some((k) => k === kind)
export const effectiveKind = (kind: string): StreamKind => (isStreamKind(kind) ? kind : "event")

export const StreamOpen = Schema.Struct({
  kind: NonEmptyString,
  content_type: Schema.optional(Schema.String),
  encoding: Schema.optional(Schema.String),
  related_job_id: Schema.optional(JobId)
})

/**
 * One chunk. Which body field is set depends on the stream's kind: `data`
 * (text, or base64 for binary with `content_type`), `event`, `log`, `metric`,
 * or `role`/`content`/`redacted` for thought (§11.4). `sequence` is always sent
 * by us and tolerated when absent on receipt.
 */
export const StreamChunk = Schema.Struct({
  sequence: Schema.optional(NonNegativeInt),
  data: Schema.optional(Schema.String),
  content_type: Schema.optional(Schema.String),
  encoding: Schema.optional(Schema.Literal("utf-8", "base64", "sidecar")),
  sha256: Schema.optional(Schema.String),
  /** For sidecar chunks (our addition): the chunk's byte length, carried by the binary frames that follow. */
  size: Schema.optional(NonNegativeInt),
  /** For sidecar chunks: how many binary frames follow this envelope (§11.3). */
  frames: Schema.optional(NonNegativeInt),
  event: Schema.optional(JsonValue),
  log: Schema.optional(JsonValue),
  metric: Schema.optional(JsonValue),
  role: Schema.optional(Schema.String),
  content: Schema.optional(Schema.String),
  redacted: Schema.optional(Schema.Boolean)
})

export const StreamClose = Schema.Struct({
  reason: Schema.optional(Schema.String),
  total_chunks: Schema.optional(NonNegativeInt)
})

export const StreamError = Schema.Struct(errorFields)

export const payloads = {
  "stream.open": StreamOpen,
  "stream.chunk": StreamChunk,
  "stream.close": StreamClose,
  "stream.error": StreamError
}
