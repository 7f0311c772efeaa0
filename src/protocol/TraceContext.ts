/**
 * Trace ids on the wire (RFC §17.1): W3C trace-context shaped — a 16-byte
 * trace id and an 8-byte span id, lower-case hex — so an envelope's ids are
 * those of the OpenTelemetry/Effect span that produced it.
 */
import { Effect, Option, Tracer } from "effect"
import { randomFillSync } from "node:crypto"

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"))
// random bytes are drawn in blocks: one syscall per 512 ids, not one per id
const pool = new Uint8Array(4096)
let poolOffset = pool.length

const randomHex = (bytes: number): string => {
  if (poolOffset + bytes > pool.length) {
    randomFillSync(pool)
    poolOffset = 0
  }
  let out = ""
  for (let i = 0; i < bytes; i++) out += HEX[pool[poolOffset + i] ?? 0]
  poolOffset += bytes
  return out
}

/** A fresh W3C trace id: 32 hex digits (all-zero is invalid in W3C; 2^-128 odds are ignored). */
export const mintTraceId = (): string => randomHex(16)
/** A fresh W3C span id: 16 hex digits. */
export const mintSpanId = (): string => randomHex(8)

/** True for a W3C trace id (32 hex digits, not all zero). */
export const isW3cTraceId = (id: string): boolean => /^[0-9a-f]{32}$/.test(id) && !/^0+$/.test(id)
/** True for a W3C span id (16 hex digits, not all zero). */
export const isW3cSpanId = (id: string): boolean => /^[0-9a-f]{16}$/.test(id) && !/^0+$/.test(id)

/** The span the current fiber runs in, if any (cheap: one context lookup). */
export const currentSpan: Effect.Effect<Option.Option<Tracer.AnySpan>> = Effect.serviceOption(Tracer.ParentSpan)

/** The trace fields of a new envelope, from what the caller set, else the current span, else fresh ids. */
export interface TraceFields {
  readonly trace_id: string
  readonly span_id: string
  readonly parent_span_id?: string
}

/**
 * Fills `trace_id`, `span_id` and `parent_span_id`: kept when given; else the
 * trace of the current span, whose span becomes the parent (the envelope is
 * one step of that operation); else `fallbackParent` (a job's own span, for
 * events sent from outside its fiber); else a fresh trace.
 */
export const traceFields = (
  given: {
    readonly trace_id?: string | undefined
    readonly span_id?: string | undefined
    readonly parent_span_id?: string | undefined
  },
  span: Option.Option<Tracer.AnySpan>,
  fallbackParent?: string | undefined
): TraceFields => {
  const current = Option.getOrUndefined(span)
  const traceId = given.trace_id ?? current?.traceId ?? mintTraceId()
  const parent = given.parent_span_id ??
    (current !== undefined && current.traceId === traceId ? current.spanId : fallbackParent)
  return {
    trace_id: traceId,
    span_id: given.span_id ?? mintSpanId(),
    ...(parent !== undefined ? { parent_span_id: parent } : {})
  }
}
