/** Load helpers shared by benches (bench/run.ts runs only top-level files, so this folder is not a bench). */
import { Effect } from "effect"
import { performance } from "node:perf_hooks"

export const SECONDS = Number(process.env["BENCH_SECONDS"] ?? 3)

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0

/** Prints one row (rate, p50, p99) and returns the rate in ops/s. */
export const report = (name: string, latencies: Array<number>, elapsedMs: number, note = "") => {
  latencies.sort((a, b) => a - b)
  const rate = (latencies.length / elapsedMs) * 1000
  console.log(
    `${name.padEnd(48)} ${rate.toFixed(0).padStart(7)} ops/s   p50 ${percentile(latencies, 0.5).toFixed(2)} ms   p99 ${
      percentile(latencies, 0.99).toFixed(2)
    } ms${note}`
  )
  return rate
}

/** Runs `op` in `inFlight` concurrent loops for `seconds`; returns the latencies (ms) and the elapsed time. */
export const load = <E, R>(op: Effect.Effect<unknown, E, R>, inFlight: number, seconds = SECONDS) =>
  Effect.gen(function*() {
    const latencies: Array<number> = []
    const start = performance.now()
    const deadline = start + seconds * 1000
    yield* Effect.forEach(Array.from({ length: inFlight }), () =>
      Effect.gen(function*() {
        while (performance.now() < deadline) {
          const t = performance.now()
          yield* op
          latencies.push(performance.now() - t)
        }
      }), { concurrency: "unbounded", discard: true })
    return { latencies, elapsed: performance.now() - start }
  })
