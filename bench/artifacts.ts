/**
 * bench/artifacts: artifact throughput over WebSocket against a spawned `arcp serve` (files + SQLite):
 * put and fetch in MB/s as sidecar frames (one artifact of BENCH_ARTIFACT_MB, default 100) and as
 * inline base64 (512 KiB artifacts, one frame each, the same total), against a bare `ws` peer in its own
 * process moving the same bytes in 256 KiB binary frames; and the server's peak RSS growth during the
 * sidecar transfers (Linux /proc). Prints numbers; asserts nothing.
 */
import { Effect, Option, Stream } from "effect"
import { spawn } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { performance } from "node:perf_hooks"
import { WebSocket as Ws } from "ws"
import * as Client from "../src/client/Client.js"
import * as WebSocket from "../src/transport/WebSocket.js"
import { serveWs } from "../test/support/Child.js"

const MB = 1024 * 1024
const SIZE = Number(process.env["BENCH_ARTIFACT_MB"] ?? 100) * MB
const INLINE = 512 * 1024
const FRAME = 256 * 1024
const block = new Uint8Array(FRAME).map((_, i) => (i * 31) & 0xff)

/** `size` bytes in 256 KiB chunks (one shared block: the bench measures the transfer, not a generator). */
const bytes = (size: number) =>
  Stream.unfold(0, (offset) =>
    offset >= size
      ? Option.none()
      : Option.some([block.subarray(0, Math.min(FRAME, size - offset)), offset + FRAME] as const))

const peakRss = (pid: number | undefined) => {
  if (pid === undefined || !existsSync(`/proc/${pid}/status`)) return undefined
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))
  return match?.[1] === undefined ? undefined : Number(match[1]) * 1024
}

const print = (name: string, size: number, ms: number, baseline?: number) => {
  const rate = size / MB / (ms / 1000)
  const ratio = baseline === undefined ? "" : `  (${(rate / baseline).toFixed(2)}x bare ws)`
  console.log(`${name.padEnd(40)} ${rate.toFixed(1).padStart(8)} MB/s${ratio}`)
  return rate
}

/** A bare `ws` server in its own process: counts uploaded bytes and answers "done"; on "send N" streams N bytes. */
const bareServer = `
const { WebSocketServer } = require("ws")
const wss = new WebSocketServer({ port: 0, host: "127.0.0.1", perMessageDeflate: false })
wss.on("listening", () => console.log("port " + wss.address().port))
const block = Buffer.alloc(${FRAME}, 7)
wss.on("connection", (ws) => {
  let got = 0
  ws.on("message", (data, binary) => {
    if (binary) { got += data.length; return }
    const [cmd, n] = String(data).split(" ")
    if (cmd === "expect") { const want = Number(n); const check = setInterval(() => { if (got >= want) { clearInterval(check); got = 0; ws.send("done") } }, 1) }
    if (cmd === "send") {
      let left = Number(n)
      const pump = () => {
        while (left > 0 && ws.bufferedAmount < ${MB}) { const k = Math.min(left, ${FRAME}); ws.send(block.subarray(0, k)); left -= k }
        if (left > 0) setTimeout(pump, 1)
      }
      pump()
    }
  })
})`

const bare = Effect.promise(() =>
  new Promise<{ up: number; down: number }>((resolve, reject) => {
    const child = spawn(process.execPath, ["-e", bareServer], {
      cwd: process.cwd(),
      stdio: ["ignore", "pipe", "inherit"]
    })
    child.stdout.once("data", (chunk: Buffer) => {
      const port = /port (\d+)/.exec(chunk.toString())?.[1]
      const ws = new Ws(`ws://127.0.0.1:${port}`, { perMessageDeflate: false })
      ws.on("error", reject)
      ws.on("open", async () => {
        const t0 = performance.now()
        ws.send(`expect ${SIZE}`)
        for (let left = SIZE; left > 0; left -= FRAME) {
          ws.send(block.subarray(0, Math.min(FRAME, left)))
          while (ws.bufferedAmount > MB) await new Promise((r) => setTimeout(r, 1))
        }
        await new Promise((r) => ws.once("message", r))
        const up = performance.now() - t0
        let got = 0
        const t1 = performance.now()
        await new Promise<void>((done) => {
          ws.on("message", (data: Buffer) => {
            got += data.length
            if (got >= SIZE) done()
          })
          ws.send(`send ${SIZE}`)
        })
        const down = performance.now() - t1
        ws.close()
        child.kill()
        resolve({ up, down })
      })
    })
  })
)

const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const t0 = performance.now()
    const value = yield* effect
    return { value, ms: performance.now() - t0 }
  })

const main = Effect.gen(function*() {
  const dir = mkdtempSync(join(tmpdir(), "arcp-bench-artifacts-"))
  yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
  const { address, child } = yield* Effect.promise(() =>
    serveWs([
      "--db",
      join(dir, "bench.db"),
      "--bearer",
      "bench=bench",
      "--max-artifact-bytes",
      String(4 * SIZE),
      "--artifact-quota-bytes",
      String(16 * SIZE)
    ])
  )
  yield* Effect.addFinalizer(() => Effect.sync(() => child.kill()))
  const connection = yield* WebSocket.connect(address)
  const session = yield* Client.connect(connection, { credentials: { scheme: "bearer", token: "bench" } })

  const baseline = yield* bare
  console.log(`artifacts: ${SIZE / MB} MB each way, 256 KiB frames, server in its own process`)
  const bareUp = print("bare ws upload", SIZE, baseline.up)
  const bareDown = print("bare ws download", SIZE, baseline.down)

  // warm the paths, then take the server's memory baseline
  const warm = yield* session.putArtifact(bytes(4 * MB), { mediaType: "application/octet-stream" })
  yield* Stream.runDrain(session.fetchArtifact(warm))
  const before = peakRss(child.pid)

  const put = yield* timed(session.putArtifact(bytes(SIZE), { mediaType: "application/octet-stream" }))
  print("artifact.put, sidecar frames", SIZE, put.ms, bareUp)
  const fetched = yield* timed(Stream.runDrain(session.fetchArtifact(put.value)))
  print("artifact.fetch, sidecar frames", SIZE, fetched.ms, bareDown)
  const after = peakRss(child.pid)

  const count = Math.max(1, Math.floor(SIZE / INLINE / 8))
  const inlinePut = yield* timed(Effect.forEach(
    Array.from({ length: count }),
    () =>
      session.putArtifact(new Uint8Array(INLINE), {
        mediaType: "application/octet-stream",
        encoding: "base64"
      })
  ))
  print(`artifact.put, base64 inline (${count} x 512 KiB)`, count * INLINE, inlinePut.ms, bareUp)
  const inlineFetch = yield* timed(Effect.forEach(
    inlinePut.value,
    (ref) => Stream.runDrain(session.fetchArtifact(ref, { encoding: "base64" }))
  ))
  print(`artifact.fetch, base64 inline (${count} x 512 KiB)`, count * INLINE, inlineFetch.ms, bareDown)

  if (before !== undefined && after !== undefined) {
    console.log(
      `server peak RSS: ${(before / MB).toFixed(0)} MB before, ${(after / MB).toFixed(0)} MB after ` +
        `${SIZE / MB} MB up and down (+${((after - before) / MB).toFixed(0)} MB)`
    )
  }
  yield* session.close()
})

Effect.runPromise(Effect.scoped(main)).catch((e) => {
  console.error(e)
  process.exitCode = 1
})
