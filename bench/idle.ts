/**
 * bench/idle: what one idle session costs the server. The server is `arcp serve`'s layers from the compiled
 * dist/ in its own plain-Node process (bench/support/distServer.mjs, SQLite log in a temp file); the sessions
 * are opened by the side-by-side load generator in another (bare `ws`), so only the server's side is
 * counted. Prints the JS heap and RSS growth per session after a forced GC with IDLE_SESSIONS (default
 * 1000) held, and what is left once they close. `IDLE_SNAPSHOT=file` also writes a heap snapshot while
 * they are held. (bench/sidebyside's memory row is RSS growth without a GC, against the peer.)
 */
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join, resolve } from "node:path"
import { createInterface, type Interface } from "node:readline"
import type { Writable } from "node:stream"
import { fileURLToPath } from "node:url"
import buildDist from "../test/support/BuildOnce.js"

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..")
const SESSIONS = Number(process.env["IDLE_SESSIONS"] ?? 1000)

interface Memory {
  readonly heapUsed: number
  readonly rss: number
  readonly external: number
}

const nextLine = (lines: Interface) => new Promise<string>((ok) => lines.once("line", ok))

const ask = async (server: { readonly stdin: Writable }, lines: Interface, command = "measure") => {
  const answer = nextLine(lines)
  server.stdin.write(`${command}\n`)
  const memory: Memory = JSON.parse(await answer)
  return memory
}

buildDist()
const dir = mkdtempSync(join(tmpdir(), "arcp-idle-"))
const server = spawn(process.execPath, [
  "--expose-gc",
  join(root, "bench", "support", "distServer.mjs"),
  join(dir, "idle.db")
], { cwd: root, stdio: ["pipe", "pipe", "inherit"] })
try {
  const lines = createInterface({ input: server.stdout })
  const { url } = JSON.parse(await nextLine(lines)) as { url: string }
  const before = await ask(server, lines)
  const sessions = spawn(process.execPath, [
    "--import",
    "tsx",
    join(root, "bench", "support", "loadgen.ts"),
    JSON.stringify({ url, token: "tok", seconds: 0, kind: "idle", sessions: SESSIONS })
  ], { cwd: root, stdio: ["pipe", "pipe", "inherit"] })
  await new Promise<void>((ok, fail) => {
    sessions.stdout.once("data", () => ok())
    sessions.once("exit", (code) => fail(new Error(`idle sessions exited with ${code}`)))
  })
  const snapshot = process.env["IDLE_SNAPSHOT"]
  const held = await ask(server, lines, snapshot === undefined ? "measure" : `snapshot ${snapshot}`)
  sessions.stdin.end()
  await new Promise((r) => sessions.once("exit", r))
  const released = await ask(server, lines)
  const kb = (bytes: number) => `${(bytes / SESSIONS / 1024).toFixed(1)} KB`
  console.log(`bench/idle: ${SESSIONS} idle WebSocket sessions held by \`arcp serve\` (dist/, SQLite log), after a GC`)
  console.log(`  heap per idle session        ${kb(held.heapUsed - before.heapUsed)}`)
  console.log(`  external per idle session    ${kb(held.external - before.external)}`)
  console.log(`  RSS per idle session         ${kb(held.rss - before.rss)}`)
  console.log(`  heap left once they closed   ${kb(released.heapUsed - before.heapUsed)} per session`)
} finally {
  server.stdin.end()
  server.kill()
  rmSync(dir, { recursive: true, force: true })
}
