/**
 * The runtime's own §17.3.1 metrics, aggregated in Effect's metric registry for every job (whatever metrics
 * exporter the application installs reads them), whether or not the job's session asked for them as events
 * (`arcpx.arcp.metrics.v1`, see Finish).
 */
import { Effect, Metric, MetricBoundaries } from "effect"

export const invocations = Metric.counter("tool.invocations", {
  description: "accepted tool invocations",
  incremental: true
})
export const errors = Metric.counter("errors.total", { description: "jobs that failed, by code", incremental: true })
export const latency = Metric.histogram(
  "latency.ms",
  MetricBoundaries.exponential({ start: 1, factor: 2, count: 20 }),
  "job latency in milliseconds, by phase (queue, exec, total)"
)

/** One accepted invoke of `tool`. */
export const invoked = (tool: string): Effect.Effect<void> => Metric.increment(Metric.tagged(invocations, "tool", tool))

/** A job of `tool` ended: its three latencies. */
export const ended = (
  tool: string,
  phases: { readonly queue: number; readonly exec: number; readonly total: number }
): Effect.Effect<void> =>
  Effect.all([
    Metric.update(latency.pipe(Metric.tagged("tool", tool), Metric.tagged("phase", "queue")), phases.queue),
    Metric.update(latency.pipe(Metric.tagged("tool", tool), Metric.tagged("phase", "exec")), phases.exec),
    Metric.update(latency.pipe(Metric.tagged("tool", tool), Metric.tagged("phase", "total")), phases.total)
  ], { discard: true })

/** A job of `tool` failed with `code`. */
export const failed = (tool: string, code: string): Effect.Effect<void> =>
  Metric.increment(Metric.tagged(Metric.tagged(errors, "tool", tool), "code", code))
