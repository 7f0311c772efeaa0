/**
 * The canonical envelope (RFC §6.1): its 18 fields with their rules, and a
 * constructor that fills `arcp`, `id` and `timestamp`.
 */
import { Clock, Context, Effect, Option, Schema } from "effect"
import { ARCP_VERSION } from "../Version.js"
import { validateFieldName } from "./Extensions.js"
import {
  JobId,
  MessageId,
  messageIdAt,
  nextMessageIdIn,
  SessionId,
  SpanId,
  StreamId,
  SubscriptionId,
  TraceId
} from "./Ids.js"
import { fromMillis, Timestamp } from "./Timestamp.js"
import { traceFields } from "./TraceContext.js"

/** The protocol version this implementation speaks (defined beside the package version). */
export { ARCP_VERSION }

/** The major version this implementation speaks: any `1.x` is understood (a later minor only adds). */
export const ARCP_MAJOR = ARCP_VERSION.split(".")[0] ?? ARCP_VERSION

/** True when a message's `arcp` version is one this implementation speaks (same major version). */
export const speaksVersion = (version: string): boolean => version.split(".")[0] === ARCP_MAJOR

/** `major.minor`; compatibility of the major version is the session's concern, not the schema's. */
export const ProtocolVersion = Schema.String.pipe(
  Schema.pattern(/^[0-9]+\.[0-9]+$/),
  Schema.annotations({
    identifier: "ProtocolVersion",
    message: () => "Expected a protocol version such as \"1.0\""
  })
)

/** §6.5 priorities, in increasing order. */
export const priorities = ["low", "normal", "high", "critical"] as const
export const Priority = Schema.Literal(...priorities)
export type Priority = typeof Priority.Type

/** Rank of a priority (low = 0 ... critical = 3). */
export const priorityRank = (p: Priority): number => priorities.indexOf(p)

/**
 * The envelope `extensions` object (§21): keys are namespaced names, or
 * `optional` (the §21.3 drop-if-unknown flag, a boolean). `x-` keys pass the
 * schema (they are legal for transport-internal use) and are refused by the
 * runtime's long-lived-deployment policy (see `Extensions.validateFieldName`).
 */
export const EnvelopeExtensions = Schema.Record({ key: Schema.String, value: Schema.Unknown }).pipe(
  Schema.filter((ext) => {
    const issues: Array<{ path: ReadonlyArray<string>; message: string }> = []
    for (const key of Object.keys(ext)) {
      const r = validateFieldName(key, { allowExperimental: true })
      if (r._tag === "Left") issues.push({ path: [key], message: r.left })
      else if (key === "optional" && typeof ext[key] !== "boolean") {
        issues.push({ path: [key], message: "extensions.optional must be a boolean" })
      }
    }
    return issues.length === 0 ? true : issues
  }, { identifier: "EnvelopeExtensions" })
)

/** The envelope fields other than `type` and `payload`. */
export const headerFields = {
  arcp: ProtocolVersion,
  id: MessageId,
  timestamp: Timestamp,
  source: Schema.optional(Schema.String),
  target: Schema.optional(Schema.String),
  session_id: Schema.optional(SessionId),
  job_id: Schema.optional(JobId),
  stream_id: Schema.optional(StreamId),
  subscription_id: Schema.optional(SubscriptionId),
  trace_id: Schema.optional(TraceId),
  span_id: Schema.optional(SpanId),
  parent_span_id: Schema.optional(SpanId),
  correlation_id: Schema.optional(MessageId),
  causation_id: Schema.optional(MessageId),
  idempotency_key: Schema.optional(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(512))),
  priority: Schema.optional(Priority),
  extensions: Schema.optional(EnvelopeExtensions)
}

/** Message type names: dotted labels (`job.progress`, `arcpx.acme.deploy.v1`). */
export const MessageType = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/),
  Schema.annotations({ identifier: "MessageType", message: () => "Expected a dotted message type name" })
)

/** Any envelope, its payload not yet interpreted. What the codec decodes first. */
export const Envelope = Schema.Struct({
  ...headerFields,
  type: MessageType,
  payload: Schema.Record({ key: Schema.String, value: Schema.Unknown })
}).annotations({ identifier: "Envelope" })
export type Envelope = typeof Envelope.Type

/** The header of an envelope: every field but `type` and `payload`. */
export type Header = Omit<Envelope, "type" | "payload">

/** Optional header fields a sender may set when constructing a message. */
export type HeaderOptions = Partial<Omit<Header, "arcp" | "id" | "timestamp">>

/** The effective priority of an envelope: `normal` when absent (§6.5). */
export const priorityOf = (envelope: { readonly priority?: Priority | undefined }): Priority =>
  envelope.priority ?? "normal"

/** True when the sender marked the message droppable if unknown (§21.3). */
export const isOptional = (
  envelope: { readonly extensions?: { readonly [k: string]: unknown } | undefined }
): boolean => envelope.extensions?.["optional"] === true

/**
 * Builds an envelope of `type` with `payload`, minting `id` and reading
 * `timestamp` from the Clock. Header options are copied as given. Every
 * envelope carries `trace_id` and `span_id` (§17.1): kept when given, else
 * taken from the current span (see `TraceContext.traceFields`); `fallbackParent`
 * is the parent span when the caller runs outside the operation's span.
 */
export const make = <const T extends string, P>(
  type: T,
  payload: P,
  options: HeaderOptions = {},
  fallbackParent?: string
): Effect.Effect<Header & { readonly type: T; readonly payload: P }> =>
  // one step off the fiber (its Clock and span); `Random` only for a millisecond's first id. Every event a
  // job sends is built here: a chain of Clock, Random and context steps cost more than the rest (issue 12)
  Effect.withFiberRuntime((fiber) => {
    const ms = Context.get(fiber.currentDefaultServices, Clock.Clock).unsafeCurrentTimeMillis()
    const span = Option.fromNullable(fiber.currentSpan)
    const build = (id: MessageId) => {
      const trace = traceFields(options, span, fallbackParent)
      return {
        arcp: ARCP_VERSION,
        id,
        timestamp: fromMillis(ms),
        ...options,
        // validated by construction (hex of fixed length), so the brand is applied without re-checking
        trace_id: TraceId.make(trace.trace_id, true),
        span_id: SpanId.make(trace.span_id, true),
        ...(trace.parent_span_id !== undefined ? { parent_span_id: SpanId.make(trace.parent_span_id, true) } : {}),
        type,
        payload
      }
    }
    const id = nextMessageIdIn(ms)
    return id !== undefined ? Effect.succeed(build(id)) : Effect.map(messageIdAt(ms), build)
  })
