/**
 * bench/handshake: full handshakes per second over a real WebSocket (connect,
 * session.open → session.accepted with bearer auth, close), one at a time and
 * 8 at once, with p50/p99 latency. Prints numbers; asserts nothing.
 */
import { Effect, Layer, Logger, LogLevel } from "effect"
import { performance } from "node:perf_hooks"
import * as Client from "../src/client/Client.js"
import * as Auth from "../src/runtime/auth/Auth.js"
import * as Runtime from "../src/runtime/Runtime.js"
import * as Tools from "../src/runtime/Tools.js"
import * as MemoryArtifactStore from "../src/store/MemoryArtifactStore.js"
import * as MemoryEventLog from "../src/store/MemoryEventLog.js"
import { Acceptor } from "../src/transport/Transport.js"
import * as WebSocket from "../src/transport/WebSocket.js"

const SECONDS = Number(process.env["BENCH_SECONDS"] ?? 3)
const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0

const server = Runtime.serve.pipe(
  Layer.provideMerge(Runtime.layer({})),
  Layer.provide(
    Layer.mergeAll(
      Auth.layer({ audience: "arcp://runtime", bearer: new Map([["bench", "bench"]]) }),
      MemoryEventLog.layer,
      MemoryArtifactStore.layer,
      Tools.layer([])
    )
  ),
  Layer.provideMerge(WebSocket.layer({ port: 0 }))
)

const program = Effect.gen(function*() {
  const { address } = yield* Acceptor
  const handshake = Effect.scoped(Effect.gen(function*() {
    const connection = yield* WebSocket.connect(address)
    const session = yield* Client.connect(connection, { credentials: { scheme: "bearer", token: "bench" } })
    yield* session.close()
  }))
  console.log(`bench/handshake (${SECONDS} s per row; client and server share one Node process)`)
  for (const concurrency of [1, 8]) {
    const latencies: Array<number> = []
    const start = performance.now()
    const deadline = start + SECONDS * 1000
    yield* Effect.forEach(Array.from({ length: concurrency }), () =>
      Effect.gen(function*() {
        while (performance.now() < deadline) {
          const t = performance.now()
          yield* handshake
          latencies.push(performance.now() - t)
        }
      }), { concurrency: "unbounded", discard: true })
    const elapsed = performance.now() - start
    latencies.sort((a, b) => a - b)
    console.log(
      `handshakes, ${concurrency} at once`.padEnd(26) +
        `${((latencies.length / elapsed) * 1000).toFixed(0).padStart(7)} /s   p50 ${
          percentile(latencies, 0.5).toFixed(2)
        } ms   p99 ${percentile(latencies, 0.99).toFixed(2)} ms   (n=${latencies.length})`
    )
  }
})

await Effect.runPromise(program.pipe(Effect.provide(server), Effect.scoped, Logger.withMinimumLogLevel(LogLevel.None)))
