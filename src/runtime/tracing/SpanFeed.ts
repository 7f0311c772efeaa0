/**
 * `trace.span` messages (RFC §6.2, §17.1): a session that negotiated the
 * `arcpx.arcp.trace.v1` extension is sent each span of its own work when the
 * span ends (handshake, commands, jobs, tool calls, log commits), so a client
 * without an OTLP collector can still draw the tree. Every other session's
 * spans are recorded (not sent) while a subscription to trace.span lives, so
 * an observer can draw them; off (a flag and a counter check per span) else.
 */
import { Effect, Exit, Option, type Tracer } from "effect"
import type { HeaderOptions } from "../../protocol/Envelope.js"
import { SpanId, TraceId } from "../../protocol/Ids.js"
import type { MessageType, PayloadOf } from "../../protocol/Message.js"
import { fromMillis } from "../../protocol/Timestamp.js"

/** The extension a client lists in `capabilities.extensions` to be sent `trace.span` messages. */
export const TRACE_EXTENSION = "arcpx.arcp.trace.v1"

type Emit = <T extends MessageType>(type: T, payload: PayloadOf<T>, options?: HeaderOptions) => Effect.Effect<void>

/** A session's feed: its listener (always installed) sends only once `enable` was called and until `disable`. */
export interface SpanFeed {
  listener(span: Tracer.Span, endNanos: bigint, exit: Exit.Exit<unknown, unknown>): Effect.Effect<void>
  readonly enable: Effect.Effect<void>
  readonly disable: Effect.Effect<void>
}

const toJson = (value: unknown): string | number | boolean =>
  typeof value === "string" || typeof value === "boolean" || (typeof value === "number" && Number.isFinite(value))
    ? value
    : String(value)

const millis = (nanos: bigint): number => Number(nanos / 1_000_000n)

/** The `trace.span` payload of an ended span. */
export const payloadOf = (
  span: Tracer.Span,
  endNanos: bigint,
  exit: Exit.Exit<unknown, unknown>
): PayloadOf<"trace.span"> => {
  const attributes: Record<string, string | number | boolean> = {}
  for (const [key, value] of span.attributes) attributes[key] = toJson(value)
  const parent = Option.getOrUndefined(span.parent)
  return {
    name: span.name,
    span_id: span.spanId,
    ...(parent !== undefined ? { parent_span_id: parent.spanId } : {}),
    start_time: fromMillis(millis(span.status.startTime)),
    end_time: fromMillis(millis(endNanos)),
    attributes,
    status: Exit.isSuccess(exit)
      ? "ok"
      : { code: "error", message: Exit.isInterrupted(exit) ? "interrupted" : "failed" }
  }
}

/** Where a feed sends: the session itself once enabled, else the log while a subscription watches (§13). */
export interface Outlets {
  /** Sends to the session (its outbound path). */
  emit: Emit
  /** Records to the log only, not the session. */
  record: Emit
  /** Whether a subscription to trace.span lives; undefined when the runtime has none. */
  watched(): boolean | undefined
}

/**
 * A feed that sends through `emit` (the session's outbound path) once enabled; before that (the session did not
 * ask), through `record` while `watched()` says a subscription to trace.span lives (§13). One object, its
 * methods on the prototype: every connection has a feed (issue 12).
 */
class Feed implements SpanFeed {
  private on = false

  constructor(private readonly outlets: Outlets) {}

  listener(span: Tracer.Span, end: bigint, exit: Exit.Exit<unknown, unknown>): Effect.Effect<void> {
    return Effect.suspend(() => {
      const to = this.on ? "emit" : this.outlets.watched() === true ? "record" : undefined
      if (to === undefined) return Effect.void
      const payload = payloadOf(span, end, exit)
      const parent = payload.parent_span_id
      return this.outlets[to]("trace.span", payload, {
        trace_id: TraceId.make(span.traceId, true),
        span_id: SpanId.make(span.spanId, true),
        ...(parent !== undefined ? { parent_span_id: SpanId.make(parent, true) } : {}),
        priority: "low"
      })
    })
  }

  get enable(): Effect.Effect<void> {
    return Effect.sync(() => {
      this.on = true
    })
  }

  get disable(): Effect.Effect<void> {
    return Effect.sync(() => {
      this.on = false
    })
  }
}

export const make = (outlets: Outlets): SpanFeed => new Feed(outlets)
