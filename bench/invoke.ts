/**
 * bench/invoke: `echo` invocations per second over one WebSocket connection
 * (client and server in this process, SQLite event log on a temp file), at 1
 * and 64 in flight, with p50/p99 latency; and a bare `ws` echo of a
 * same-sized JSON frame as the baseline. Prints numbers; asserts nothing.
 */
import { Effect, Layer, Logger, LogLevel } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { performance } from "node:perf_hooks"
import { WebSocket as WsClient, WebSocketServer } from "ws"
import * as DemoTools from "../src/cli/demoTools.js"
import * as Client from "../src/client/Client.js"
import * as Auth from "../src/runtime/auth/Auth.js"
import * as Runtime from "../src/runtime/Runtime.js"
import * as Tools from "../src/runtime/Tools.js"
import * as MemoryArtifactStore from "../src/store/MemoryArtifactStore.js"
import * as SqliteEventLog from "../src/store/SqliteEventLog.js"
import { Acceptor } from "../src/transport/Transport.js"
import * as WebSocket from "../src/transport/WebSocket.js"

const SECONDS = Number(process.env["BENCH_SECONDS"] ?? 4)

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0

const report = (name: string, latencies: Array<number>, elapsedMs: number) => {
  latencies.sort((a, b) => a - b)
  const rate = (latencies.length / elapsedMs) * 1000
  console.log(
    `${name.padEnd(34)} ${rate.toFixed(0).padStart(8)} ops/s   p50 ${percentile(latencies, 0.5).toFixed(3)} ms   p99 ${
      percentile(latencies, 0.99).toFixed(3)
    } ms   (n=${latencies.length})`
  )
  return rate
}

/** Runs `op` with `inFlight` concurrent loops for SECONDS; returns the latencies. */
const loadEffect = <E>(op: Effect.Effect<unknown, E>, inFlight: number) =>
  Effect.gen(function*() {
    const latencies: Array<number> = []
    const deadline = performance.now() + SECONDS * 1000
    const start = performance.now()
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

const arcp = (synchronous: "FULL" | "NORMAL") =>
  Effect.gen(function*() {
    const dir = mkdtempSync(join(tmpdir(), "arcp-bench-"))
    yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
    const server = Runtime.serve.pipe(
      Layer.provideMerge(Runtime.layer({})),
      Layer.provide(Layer.mergeAll(
        Auth.layer({ audience: "arcp://runtime", bearer: new Map([["bench", "bench"]]) }),
        SqliteEventLog.layer({ filename: join(dir, "bench.db"), synchronous }),
        MemoryArtifactStore.layer,
        Tools.layer(DemoTools.all)
      )),
      Layer.provideMerge(WebSocket.layer({ port: 0 }))
    )
    const results = yield* Effect.gen(function*() {
      const acceptor = yield* Acceptor
      const connection = yield* WebSocket.connect(acceptor.address)
      const session = yield* Client.connect(connection, { credentials: { scheme: "bearer", token: "bench" } })
      const invoke = Effect.scoped(
        Effect.flatMap(session.invoke("echo", { query: "*.ts", page: 1 }), (job) => job.outcome)
      )
      yield* loadEffect(invoke, 8) // warm-up
      const out: Array<number> = []
      for (const inFlight of [1, 64]) {
        const { elapsed, latencies } = yield* loadEffect(invoke, inFlight)
        out.push(report(`arcp echo, sqlite ${synchronous}, ${inFlight} in flight`, latencies, elapsed))
      }
      return out
    }).pipe(Effect.provide(server))
    return results
  }).pipe(Effect.scoped)

/** The same request/response shape over bare `ws`: the floor for any protocol on this machine. */
const bareWs = async (inFlight: number) => {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false })
  wss.on("connection", (socket) => socket.on("message", (data) => socket.send(data.toString())))
  await new Promise<void>((resolve) => wss.once("listening", () => resolve()))
  const address = wss.address()
  const port = typeof address === "object" && address !== null ? address.port : 0
  const client = new WsClient(`ws://127.0.0.1:${port}`, { perMessageDeflate: false })
  await new Promise<void>((resolve) => client.once("open", () => resolve()))
  const pending = new Map<number, () => void>()
  client.on("message", (data) => {
    const id: unknown = JSON.parse(data.toString()).n
    if (typeof id === "number") pending.get(id)?.()
  })
  const frame = JSON.stringify({
    arcp: "1.0",
    id: "msg_01JABCDEFGHJKMNPQRSTVWXYZ0",
    type: "tool.invoke",
    timestamp: new Date().toISOString(),
    payload: { tool: "echo", arguments: { query: "*.ts", page: 1 } }
  })
  let next = 0
  const once = () =>
    new Promise<void>((resolve) => {
      const n = next++
      pending.set(n, () => {
        pending.delete(n)
        resolve()
      })
      client.send(`{"n":${n},${frame.slice(1)}`)
    })
  const latencies: Array<number> = []
  const start = performance.now()
  const deadline = start + SECONDS * 1000
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (performance.now() < deadline) {
      const t = performance.now()
      await once()
      latencies.push(performance.now() - t)
    }
  }))
  const elapsed = performance.now() - start
  client.close()
  wss.close()
  return report(`bare ws echo, ${inFlight} in flight`, latencies, elapsed)
}

const main = async () => {
  console.log(`bench/invoke (${SECONDS} s per row; client and server share one Node process)`)
  // BENCH_BASELINE=0 skips the bare ws rows; BENCH_SYNC=NORMAL|FULL runs one durability mode (for profiling)
  const baseline = process.env["BENCH_BASELINE"] === "0" ? [1, 1] : [await bareWs(1), await bareWs(64)]
  const modes = (["NORMAL", "FULL"] as const).filter((mode) => (process.env["BENCH_SYNC"] ?? mode) === mode)
  for (const synchronous of modes) {
    const rates = await Effect.runPromise(arcp(synchronous).pipe(Logger.withMinimumLogLevel(LogLevel.Warning)))
    rates.forEach((rate, i) =>
      console.log(`  → ${((rate / (baseline[i] ?? 1)) * 100).toFixed(1)}% of bare ws at ${i === 0 ? 1 : 64} in flight`)
    )
  }
}

await main()
