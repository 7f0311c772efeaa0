/**
 * Export of the runtime's spans over OTLP/HTTP (§17.1) through
 * `@effect/opentelemetry`, when configured: `--otlp-endpoint`, or the standard
 * `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (with
 * `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_BSP_*`... read by the exporter itself).
 * Off by default: the OpenTelemetry SDK is not even loaded then, and the spans
 * stay in Effect's own tracer (ids only, nothing kept).
 */
import type { SpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Effect, Layer } from "effect"

export interface OtlpOptions {
  /** The collector's base URL (`http://host:4318`); `/v1/traces` is added unless present. */
  readonly endpoint?: string | undefined
  /** The `service.name` of the spans (default `arcp`); OTEL_SERVICE_NAME wins, as usual. */
  readonly serviceName?: string | undefined
  readonly serviceVersion?: string | undefined
}

const nonEmpty = (s: string | undefined) => (s === undefined || s === "" ? undefined : s)

/** The traces URL of a base endpoint. */
export const tracesUrl = (endpoint: string): string =>
  /\/v1\/traces\/?$/.test(endpoint) ? endpoint : `${endpoint.replace(/\/+$/, "")}/v1/traces`

/** Whether export is configured, by option or by the standard environment variables. */
export const configured = (options: OtlpOptions, env: NodeJS.ProcessEnv = process.env): boolean =>
  options.endpoint !== undefined ||
  (env["OTEL_EXPORTER_OTLP_ENDPOINT"] ?? "") !== "" ||
  (env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] ?? "") !== ""

/** The Effect tracer backed by the OpenTelemetry SDK, its spans going to `processor` (tests: an in-memory exporter). */
export const layerWith = (
  processor: SpanProcessor,
  options: Pick<OtlpOptions, "serviceName" | "serviceVersion"> = {}
): Layer.Layer<never> =>
  Layer.unwrapEffect(Effect.map(
    Effect.promise(() => import("@effect/opentelemetry/NodeSdk")),
    (NodeSdk) =>
      Layer.discard(NodeSdk.layer(() => ({
        resource: {
          serviceName: options.serviceName ?? nonEmpty(process.env["OTEL_SERVICE_NAME"]) ?? "arcp",
          ...(options.serviceVersion !== undefined ? { serviceVersion: options.serviceVersion } : {})
        },
        spanProcessor: processor
      })))
  ))

/** OTLP/HTTP export when configured (batched, flushed at shutdown); an empty layer otherwise. */
export const layer = (options: OtlpOptions = {}): Layer.Layer<never> =>
  !configured(options) ? Layer.empty : Layer.unwrapEffect(Effect.map(
    Effect.promise(() =>
      Promise.all([import("@opentelemetry/sdk-trace-base"), import("@opentelemetry/exporter-trace-otlp-http")])
    ),
    ([base, http]) =>
      layerWith(
        new base.BatchSpanProcessor(
          new http.OTLPTraceExporter(options.endpoint !== undefined ? { url: tracesUrl(options.endpoint) } : {})
        ),
        options
      )
  ))
