/**
 * The runtime's own §17.3.1 metrics, aggregated in Effect's metric registry for every job (whatever metrics
 * exporter the application installs reads them), whether or not the job's session asked for them as events
 * (`arcpx.arcp.metrics.v1`, see Finish).
 */
import { Effect, FiberRef, Metric, MetricBoundaries } from "effect"

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

/**
 * The tagged metrics of each tool, made once: `Metric.tagged` builds a new metric (and key) on every call,
 * which cost every job its share of an echo's time. Bounded by the registered tools (names of jobs that ran).
 */
interface ToolMetrics {
  readonly invocations: Metric.Metric.Counter<number>
  readonly queue: Metric.Metric.Histogram<number>
  readonly exec: Metric.Metric.Histogram<number>
  readonly total: Metric.Metric.Histogram<number>
}
const byTool = new Map<string, ToolMetrics>()
const metricsOf = (tool: string): ToolMetrics => {
  let made = byTool.get(tool)
  if (made === undefined) {
    const timed = latency.pipe(Metric.tagged("tool", tool))
    made = {
      invocations: Metric.tagged(invocations, "tool", tool),
      queue: timed.pipe(Metric.tagged("phase", "queue")),
      exec: timed.pipe(Metric.tagged("phase", "exec")),
      total: timed.pipe(Metric.tagged("phase", "total"))
    }
    byTool.set(tool, made)
  }
  return made
}

/**
 * Updates metrics in one fiber step (the fiber's metric labels read once): `Metric.update` is a FiberRef read
 * and a `sync` of its own, three to four steps a metric and four metrics a job (issue 12).
 */
type Updatable = Pick<Metric.Metric<unknown, number, unknown>, "unsafeUpdate">
const updateAll = (...updates: ReadonlyArray<readonly [Updatable, number]>) =>
  Effect.withFiberRuntime<void>((fiber) => {
    const labels = fiber.getFiberRef(FiberRef.currentMetricLabels)
    for (const [metric, value] of updates) metric.unsafeUpdate(value, labels)
    return Effect.void
  })

/** One accepted invoke of `tool`. */
export const invoked = (tool: string): Effect.Effect<void> => updateAll([metricsOf(tool).invocations, 1])

/** A job of `tool` ended: its three latencies. */
export const ended = (
  tool: string,
  phases: { readonly queue: number; readonly exec: number; readonly total: number }
): Effect.Effect<void> => {
  const metrics = metricsOf(tool)
  return updateAll([metrics.queue, phases.queue], [metrics.exec, phases.exec], [metrics.total, phases.total])
}

/** A job of `tool` failed with `code`. */
export const failed = (tool: string, code: string): Effect.Effect<void> =>
  Metric.increment(Metric.tagged(Metric.tagged(errors, "tool", tool), "code", code))
