/**
 * The runtime's own §17.3.1 metrics, aggregated in Effect's metric registry for every job (whatever metrics
 * exporter the application installs reads them), whether or not the job's session asked for them as events
 * (`arcpx.arcp.metrics.v1`, see Finish).
 */
import { Effect, FiberRef, Metric, MetricBoundaries, MetricKey, MetricLabel } from "effect"

const invocationsKey = MetricKey.counter("tool.invocations", {
  description: "accepted tool invocations",
  incremental: true
})
const latencyKey = MetricKey.histogram(
  "latency.ms",
  MetricBoundaries.exponential({ start: 1, factor: 2, count: 20 }),
  "job latency in milliseconds, by phase (queue, exec, total)"
)
export const invocations = Metric.fromMetricKey(invocationsKey)
export const errors = Metric.counter("errors.total", { description: "jobs that failed, by code", incremental: true })
export const latency = Metric.fromMetricKey(latencyKey)

/**
 * The tagged metrics of each tool, made once, from keys that carry their tags: a `Metric.tagged` metric
 * builds a new key (hashing its description) on every update, and `Metric.tagged` itself a new metric on
 * every call, which cost every job its share of an echo's time (issue 12). The keys are the ones
 * `Metric.tagged` would make, so readers of the registry see the same metrics. Bounded by the registered
 * tools (names of jobs that ran).
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
    const byName = MetricLabel.make("tool", tool)
    const phase = (name: string) =>
      Metric.fromMetricKey(MetricKey.taggedWithLabels(latencyKey, [byName, MetricLabel.make("phase", name)]))
    made = {
      invocations: Metric.fromMetricKey(MetricKey.taggedWithLabels(invocationsKey, [byName])),
      queue: phase("queue"),
      exec: phase("exec"),
      total: phase("total")
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
