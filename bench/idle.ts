/**
 * bench/idle: what one idle session costs the server. The server (WebSocket, SQLite log in a temp file,
 * the same layers as `arcp serve`) runs in this process; the sessions are opened by the side-by-side load
 * generator in a child process (bare `ws`), so only the server's side is counted. Prints the JS heap and
 * RSS growth per session after a forced GC (run with `--expose-gc`; bench/run does), with
 * IDLE_SESSIONS (default 1000) held. `IDLE_SNAPSHOT=file` also writes a heap snapshot while they are held.
 */
import { Effect, Logger, LogLevel } from "effect"
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { writeHeapSnapshot } from "node:v8"
import * as Server from "../src/runtime/Server.js"
import { Acceptor } from "../src/transport/Transport.js"

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..")
const SESSIONS = Number(process.env["IDLE_SESSIONS"] ?? 1000)
const gc: () => void = typeof globalThis.gc === "function" ? globalThis.gc : () => {}

const settle = async () => {
  for (let i = 0; i < 4; i++) {
    await new Promise((r) => setTimeout(r, 100))
    gc()
  }
  return process.memoryUsage()
}

const dir = mkdtempSync(join(tmpdir(), "arcp-idle-"))
const server = Server.layer({
  auth: { bearer: new Map([["tok", "alice"]]) },
  transport: { kind: "ws", host: "127.0.0.1", port: 0 },
  db: join(dir, "idle.db"),
  tools: []
})

const program = Effect.gen(function*() {
  const { address } = yield* Acceptor
  const before = yield* Effect.promise(settle)
  const child = spawn(process.execPath, [
    "--import",
    "tsx",
    join(root, "bench", "support", "loadgen.ts"),
    JSON.stringify({ url: address, token: "tok", seconds: 0, kind: "idle", sessions: SESSIONS })
  ], { cwd: root, stdio: ["pipe", "pipe", "inherit"] })
  yield* Effect.promise(() =>
    new Promise<void>((ok, fail) => {
      child.stdout.once("data", () => ok())
      child.once("exit", (code) => fail(new Error(`idle sessions exited with ${code}`)))
    })
  )
  const after = yield* Effect.promise(settle)
  const snapshot = process.env["IDLE_SNAPSHOT"]
  if (snapshot !== undefined) writeHeapSnapshot(snapshot)
  child.stdin.end()
  yield* Effect.promise(() => new Promise((r) => child.once("exit", r)))
  const released = yield* Effect.promise(settle)
  const kb = (bytes: number) => (bytes / SESSIONS / 1024).toFixed(1)
  console.log(`bench/idle: ${SESSIONS} idle WebSocket sessions held by the server (SQLite log)`)
  console.log(`  heap per idle session      ${kb(after.heapUsed - before.heapUsed)} KB${gc === undefined ? "" : ""}`)
  console.log(
    `  external per idle session  ${kb(after.external + after.arrayBuffers - before.external - before.arrayBuffers)} KB`
  )
  console.log(`  RSS per idle session       ${kb(after.rss - before.rss)} KB`)
  console.log(`  heap left after they close ${kb(released.heapUsed - before.heapUsed)} KB per session`)
  if (typeof globalThis.gc !== "function") console.log("  (no --expose-gc: numbers include garbage)")
})

try {
  await Effect.runPromise(
    program.pipe(Effect.provide(server), Effect.scoped, Logger.withMinimumLogLevel(LogLevel.None))
  )
} finally {
  rmSync(dir, { recursive: true, force: true })
}
