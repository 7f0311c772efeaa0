/**
 * bench/split: where an invoke's time goes, client and server measured apart
 * (bench/invoke runs both in one process). Server only: the runtime against a
 * hand-written `ws` client that sends pre-built tool.invoke frames and reads no
 * more than the word `tool.result`. Client only: `Client` against a scripted
 * `ws` peer that answers each invoke with the same 7 envelopes the runtime sends.
 * Prints invokes/s; asserts nothing.
 */
import { Effect, Logger, LogLevel } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { performance } from "node:perf_hooks"
import { WebSocket as Ws, WebSocketServer } from "ws"
import * as Client from "../src/client/Client.js"
import * as MemoryEventLog from "../src/store/MemoryEventLog.js"
import * as SqliteEventLog from "../src/store/SqliteEventLog.js"
import { Acceptor } from "../src/transport/Transport.js"
import * as WebSocket from "../src/transport/WebSocket.js"
import { serverLayer, TOKEN } from "../test/support/Harness.js"

const SECONDS = Number(process.env["BENCH_SECONDS"] ?? 4)
// `BENCH_ROWS=client` (or `server`) runs only those rows
const ROWS = process.env["BENCH_ROWS"] ?? "all"
const now = () => new Date().toISOString()
let counter = 0
const nextId = (prefix: string) => `${prefix}_01K${String(counter++).padStart(23, "0")}`
const print = (name: string, n: number, elapsedMs: number, cpuMicros?: number) =>
  console.log(
    `${name.padEnd(44)} ${((n / elapsedMs) * 1000).toFixed(0).padStart(7)} invokes/s${
      cpuMicros === undefined ? "" : `, ${cpuMicros.toFixed(0)} µs CPU per invoke`
    }`
  )

/** Drives the runtime at `address` with `inFlight` invokes outstanding for SECONDS. */
const rawClient = (address: string, inFlight: number) =>
  new Promise<{ n: number; elapsed: number }>((resolve) => {
    const ws = new Ws(address, { perMessageDeflate: false })
    let sent = 0
    let done = 0
    let start = 0
    // every message after acceptance names the session (§6.1.1)
    let sessionId = ""
    const send = () => {
      sent++
      ws.send(
        `{"arcp":"1.0","id":"${
          nextId("msg")
        }","type":"tool.invoke","session_id":"${sessionId}","timestamp":"${now()}","payload":{"tool":"echo","arguments":{"a":1}}}`
      )
    }
    ws.on("open", () =>
      ws.send(JSON.stringify({
        arcp: "1.0",
        id: nextId("msg"),
        type: "session.open",
        timestamp: now(),
        payload: { client: { kind: "bench", version: "1" }, auth: { scheme: "bearer", token: TOKEN }, capabilities: {} }
      })))
    ws.on("message", (data) => {
      const text = data.toString()
      if (text.includes("\"session.accepted\"")) {
        sessionId = /"session_id":"([^"]+)"/.exec(text)?.[1] ?? ""
        start = performance.now()
        for (let i = 0; i < inFlight; i++) send()
      } else if (text.includes("\"tool.result\"")) {
        done++
        if (performance.now() - start < SECONDS * 1000) send()
        else if (done === sent) {
          ws.close()
          resolve({ n: done, elapsed: performance.now() - start })
        }
      }
    })
  })

const serverOnly = (log: "memory" | "sqlite", inFlight: number) =>
  Effect.gen(function*() {
    const dir = mkdtempSync(join(tmpdir(), "arcp-split-"))
    yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
    const eventLog = log === "sqlite"
      ? SqliteEventLog.layer({ filename: join(dir, "split.db"), synchronous: "NORMAL" })
      : MemoryEventLog.layer
    const { elapsed, n } = yield* Effect.flatMap(Acceptor, (acceptor) =>
      Effect.promise(() => rawClient(acceptor.address, inFlight))).pipe(
        Effect.provide(serverLayer({ transport: WebSocket.layer({ port: 0 }), eventLog }))
      )
    print(`server only, ${log} log, ${inFlight} in flight`, n, elapsed)
  }).pipe(Effect.scoped)

/** A peer that accepts any session and answers each tool.invoke as the runtime does for `echo`. */
const scriptedRuntime = () => {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false })
  wss.on("connection", (socket) =>
    socket.on("message", (data) => {
      const m: { id: string; type: string; payload: { arguments?: unknown } } = JSON.parse(data.toString())
      const send = (type: string, payload: object, extra: object = {}) =>
        socket.send(
          JSON.stringify({
            arcp: "1.0",
            id: nextId("msg"),
            type,
            timestamp: now(),
            session_id: "sess_bench",
            ...extra,
            payload
          })
        )
      if (m.type === "session.open") {
        const runtime = { kind: "scripted", version: "1", fingerprint: "sha256:00", trust_level: "trusted" }
        return send("session.accepted", {
          session_id: "sess_bench",
          runtime,
          capabilities: {},
          lease: { expires_at: "2099-01-01T00:00:00Z" }
        }, { correlation_id: m.id })
      }
      if (m.type !== "tool.invoke") return
      const job = { job_id: nextId("job") }
      send("job.accepted", { ...job, accepted_at: now() }, { ...job, correlation_id: m.id })
      send("job.started", { ...job, started_at: now() }, job)
      send("metric", { name: "tool.invocations", value: 1, unit: "count", dims: { tool: "echo" } }, job)
      for (const phase of ["queue", "exec", "total"]) {
        send("metric", { name: "latency.ms", value: 1, unit: "ms", dims: { phase, tool: "echo" } }, job)
      }
      send("tool.result", { value: m.payload.arguments }, { ...job, correlation_id: m.id })
    }))
  return wss
}

const clientOnly = (inFlight: number, warmUp = false) =>
  Effect.gen(function*() {
    const wss = yield* Effect.acquireRelease(
      Effect.async<WebSocketServer>((resume) => {
        const server = scriptedRuntime()
        server.once("listening", () => resume(Effect.succeed(server)))
      }),
      (server) => Effect.sync(() => server.close())
    )
    const { port } = wss.address() as AddressInfo // a TCP server's address is always an AddressInfo
    const connection = yield* WebSocket.connect(`ws://127.0.0.1:${port}`)
    const session = yield* Client.connect(connection, { credentials: { scheme: "bearer", token: "bench" } })
    const invoke = Effect.scoped(Effect.flatMap(session.invoke("echo", { a: 1 }), (job) => job.outcome))
    let n = 0
    const cpu = process.cpuUsage()
    const start = performance.now()
    const deadline = start + (warmUp ? 1000 : SECONDS * 1000)
    yield* Effect.forEach(Array.from({ length: inFlight }), () =>
      Effect.gen(function*() {
        while (performance.now() < deadline) {
          yield* invoke
          n++
        }
      }), { concurrency: "unbounded", discard: true })
    const { system, user } = process.cpuUsage(cpu)
    // this process's CPU per invoke: the client and the scripted peer (the same for every build measured)
    if (!warmUp) print(`client only, ${inFlight} in flight`, n, performance.now() - start, (user + system) / n)
  }).pipe(Effect.scoped)

const main = Effect.gen(function*() {
  console.log(`bench/split (${SECONDS} s per row; echo; one connection)`)
  if (ROWS !== "client") {
    for (const inFlight of [1, 64]) yield* serverOnly("memory", inFlight)
    for (const inFlight of [1, 64]) yield* serverOnly("sqlite", inFlight)
  }
  if (ROWS !== "server") { for (const inFlight of [1, 64]) yield* clientOnly(inFlight) }
}).pipe(Logger.withMinimumLogLevel(LogLevel.Warning))

await Effect.runPromise(main)
