/**
 * The runtime-metrics extension `arcpx.arcp.metrics.v1` (docs/decisions.md, "Runtime metrics"): the §17.3.1
 * metrics the runtime reports about each job (`tool.invocations`, `latency.ms` per phase, `errors.total`) are
 * a MAY-emit; they go, as `metric` events of the job, only to a session that lists this name in
 * `capabilities.extensions`. Without it they cost no envelopes: the runtime aggregates them instead.
 */

/** The extension's name, listed in `capabilities.extensions` by both sides to receive per-job runtime metrics. */
export const METRICS_EXTENSION = "arcpx.arcp.metrics.v1"
