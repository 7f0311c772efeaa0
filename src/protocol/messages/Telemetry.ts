/** Events and telemetry (RFC §17): event.emit, log, metric, trace.span, and the reserved metric names. */
import { Schema } from "effect"
import { isNamespaced } from "../Extensions.js"
import { Timestamp } from "../Timestamp.js"
import { JsonObject, JsonValue, NonEmptyString } from "./Common.js"

export const EventEmit = Schema.Struct({ name: NonEmptyString, data: Schema.optional(JsonValue) })

/** The six levels of §17.2. */
export const logLevels = ["trace", "debug", "info", "warn", "error", "critical"] as const
export const LogLevel = Schema.Literal(...logLevels)
export type LogLevel = typeof LogLevel.Type

export const Log = Schema.Struct({
  level: LogLevel,
  message: Schema.String,
  attributes: Schema.optional(JsonObject)
})

/** Reserved metric names with their required unit and allowed dimension values (§17.3.1). */
export const standardMetrics: Readonly<
  Record<string, { readonly unit: string; readonly dims?: { readonly [dim: string]: ReadonlyArray<string> } }>
> = {
  "tokens.used": { unit: "tokens", dims: { kind: ["input", "output", "cache_read", "cache_write"] } },
  "cost.usd": { unit: "usd" },
  "gpu.seconds": { unit: "seconds" },
  "tool.invocations": { unit: "count" },
  "latency.ms": { unit: "ms", dims: { phase: ["queue", "exec", "total"] } },
  "bytes.in": { unit: "bytes" },
  "bytes.out": { unit: "bytes" },
  "errors.total": { unit: "count" }
}

/**
 * Checks a metric against §17.3.1: a reserved name carries its unit (and
 * known dimension values); any other name must be namespaced.
 */
export const checkMetric = (m: {
  readonly name: string
  readonly unit: string
  readonly dims?: { readonly [k: string]: unknown } | undefined
}): true | { readonly path: ReadonlyArray<string>; readonly message: string } => {
  const standard = standardMetrics[m.name]
  if (standard === undefined) {
    return isNamespaced(m.name) ||
      { path: ["name"], message: `"${m.name}" is not a standard metric name, so it must be namespaced` }
  }
  if (m.unit !== standard.unit) {
    return { path: ["unit"], message: `"${m.name}" must use unit "${standard.unit}", not "${m.unit}"` }
  }
  for (const [dim, allowed] of Object.entries(standard.dims ?? {})) {
    const v = m.dims?.[dim]
    if (v !== undefined && (typeof v !== "string" || !allowed.includes(v))) {
      return { path: ["dims", dim], message: `dims.${dim} of "${m.name}" must be one of ${allowed.join(", ")}` }
    }
  }
  return true
}

export const Metric = Schema.Struct({
  name: NonEmptyString,
  value: Schema.Number,
  unit: NonEmptyString,
  dims: Schema.optional(
    Schema.Record({ key: Schema.String, value: Schema.Union(Schema.String, Schema.Number, Schema.Boolean) })
  )
}).pipe(Schema.filter(checkMetric))

export const TraceSpan = Schema.Struct({
  name: NonEmptyString,
  span_id: NonEmptyString,
  parent_span_id: Schema.optional(Schema.String),
  start_time: Timestamp,
  end_time: Schema.optional(Timestamp),
  attributes: Schema.optional(JsonObject),
  status: Schema.optional(Schema.Union(Schema.String, JsonObject))
})

export const payloads = {
  "event.emit": EventEmit,
  log: Log,
  metric: Metric,
  "trace.span": TraceSpan
}
