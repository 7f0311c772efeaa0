/**
 * bench/fairness: one job must not starve everyone else (issue 7 part 4). Against `arcp serve` in a
 * child process (SQLite log in a temporary directory), prints handshake and ping latency (p50/p99) on an idle server, then
 * while 4 unthrottled `ticker {count: 100000}` jobs run on one connection that reads everything and on
 * one that has stopped reading; and the server's RSS with a paused reader, with the default buffer
 * and with the buffer made effectively unbounded (the baseline). Prints numbers; asserts nothing.
 */
import Database from "better-sqlite3"
import { type ChildProcess, spawn } from "node:child_process"
import { randomUUID } from "node:crypto"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { performance } from "node:perf_hooks"
import { fileURLToPath } from "node:url"
import { WebSocket } from "ws"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const SECONDS = Number(process.env["BENCH_SECONDS"] ?? 4)
const RSS_SECONDS = Number(process.env["BENCH_RSS_SECONDS"] ?? 20)
const TICKERS = 4
const COUNT = 100_000

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

// the event log on disk (the default of `arcp serve`), so the server's memory is its buffers, not its log
const dbDir = mkdtempSync(join(tmpdir(), "arcp-bench-fairness-"))
process.once("exit", () => rmSync(dbDir, { recursive: true, force: true }))
let servers = 0

const serve = (args: ReadonlyArray<string>) =>
  new Promise<{ child: ChildProcess; address: string; db: string }>((resolve, reject) => {
    const db = join(dbDir, `arcp-${++servers}.db`)
    const child = spawn(
      process.execPath,
      [join(root, "bin/arcp.js"), "serve", "--port", "0", "--db", db, "--bearer", "bench=bench", ...args],
      { cwd: root, stdio: ["ignore", "pipe", "ignore"] }
    )
    let out = ""
    child.stdout?.on("data", (chunk: Buffer) => {
      out += chunk.toString()
      const match = /serving on (ws:\/\/\S+)/.exec(out)
      if (match?.[1] !== undefined) resolve({ child, address: match[1], db })
    })
    child.once("exit", (code) => reject(new Error(`serve exited with ${code}: ${out}`)))
  })

const stop = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    child.once("exit", () => resolve())
    child.kill("SIGKILL")
  })

/** Resident set size of a process in MB (Linux /proc). */
const rssMb = (pid: number) => {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))
  return match?.[1] === undefined ? Number.NaN : Number(match[1]) / 1024
}

const envelope = (type: string, payload: unknown, extra: Record<string, unknown> = {}) => ({
  arcp: "1.0",
  id: `msg_${randomUUID()}`,
  type,
  timestamp: new Date().toISOString(),
  payload,
  ...extra
})

/** A raw session: `count` tallies every frame received; `reply` waits for the answer to a message id. */
const open = (address: string) =>
  new Promise<{
    ws: WebSocket
    sessionId: string
    count: () => number
    send: (type: string, payload: unknown) => string
    reply: (id: string) => Promise<void>
  }>((resolve, reject) => {
    const ws = new WebSocket(address)
    const waiting = new Map<string, () => void>()
    let frames = 0
    let sessionId = ""
    ws.on("error", reject)
    ws.on("message", (data) => {
      frames++
      const text = String(data)
      // only session.accepted and correlated answers are parsed: a busy reader stays cheap
      if (sessionId === "" || text.includes("\"correlation_id\"")) {
        const m = JSON.parse(text)
        if (m.type === "session.accepted") {
          sessionId = m.payload.session_id
          resolve({
            ws,
            sessionId,
            count: () => frames,
            send: (type, payload) => {
              const e = envelope(type, payload, { session_id: sessionId })
              ws.send(JSON.stringify(e))
              return e.id
            },
            reply: (id) => new Promise<void>((done) => waiting.set(id, done))
          })
        }
        const done = m.correlation_id === undefined ? undefined : waiting.get(m.correlation_id)
        if (done !== undefined) {
          waiting.delete(m.correlation_id)
          done()
        }
      }
    })
    ws.on("open", () => {
      ws.send(JSON.stringify(envelope("session.open", {
        auth: { scheme: "bearer", token: "bench" },
        client: { kind: "bench", version: "1" },
        capabilities: {}
      })))
    })
  })

/** Handshakes one after another and pings on an idle session, side by side, for SECONDS. */
const latencies = async (address: string) => {
  const prober = await open(address)
  const handshakes: Array<number> = []
  const pings: Array<number> = []
  const deadline = performance.now() + SECONDS * 1000
  await Promise.all([
    (async () => {
      while (performance.now() < deadline) {
        const t = performance.now()
        const s = await open(address)
        handshakes.push(performance.now() - t)
        s.ws.close()
      }
    })(),
    (async () => {
      while (performance.now() < deadline) {
        const t = performance.now()
        await prober.reply(prober.send("ping", {}))
        pings.push(performance.now() - t)
      }
    })()
  ])
  prober.ws.close()
  const row = (xs: Array<number>) => {
    xs.sort((a, b) => a - b)
    return `p50 ${percentile(xs, 0.5).toFixed(1).padStart(6)} ms  p99 ${
      percentile(xs, 0.99).toFixed(1).padStart(6)
    } ms (n=${xs.length})`
  }
  return { handshake: row(handshakes), ping: row(pings), p99: percentile(pings, 0.99) }
}

const tickers = (s: { send: (type: string, payload: unknown) => string }, n: number) => {
  for (let i = 0; i < n; i++) s.send("tool.invoke", { tool: "ticker", arguments: { count: COUNT } })
}

const phase = async (label: string, args: ReadonlyArray<string>, load: (address: string) => Promise<() => void>) => {
  const { address, child } = await serve(args)
  const done = await load(address)
  const { handshake, ping } = await latencies(address)
  console.log(`${label.padEnd(34)} handshake ${handshake}`)
  console.log(`${"".padEnd(34)} ping      ${ping}`)
  done()
  await stop(child)
}

/**
 * RSS of a server whose one client stopped reading while `n` tickers run: sampled until the tickers
 * have ended (read from the server's SQLite log) or RSS_SECONDS have passed; also how many of their
 * events the server produced (recorded) by then.
 */
const pausedRss = async (args: ReadonlyArray<string>, n: number) => {
  const { address, child, db } = await serve(args)
  const pid = child.pid ?? 0
  await sleep(500)
  const before = rssMb(pid)
  const s = await open(address)
  s.ws.pause()
  tickers(s, n)
  const log = new Database(db, { readonly: true, fileMustExist: true })
  const count = (sql: string) => Number(Object.values(log.prepare(sql).get() ?? {})[0] ?? 0)
  let peak = before
  const start = performance.now()
  while (performance.now() - start < RSS_SECONDS * 1000) {
    await sleep(200)
    peak = Math.max(peak, rssMb(pid))
    if (count("SELECT count(*) FROM jobs WHERE terminal IS NOT NULL") >= n) break
  }
  const events = count("SELECT count(*) FROM events WHERE type = 'job.progress'")
  const seconds = (performance.now() - start) / 1000
  log.close()
  s.ws.terminate()
  await stop(child)
  return { before, peak, events, seconds }
}

console.log(`bench/fairness (${SECONDS} s per row; server: arcp serve in a child process, SQLite log)`)
await phase("idle server", [], async () => () => {})
await phase(`${TICKERS} x ticker 100k, reading client`, [], async (address) => {
  const s = await open(address)
  tickers(s, TICKERS)
  return () => {
    console.log(`${"".padEnd(34)} the reading client got ${s.count()} frames meanwhile`)
    s.ws.close()
  }
})
await phase(`${TICKERS} x ticker 100k, paused client`, [], async (address) => {
  const s = await open(address)
  s.ws.pause()
  tickers(s, TICKERS)
  return () => s.ws.terminate()
})

const unboundedArgs = ["--max-outbound-bytes", "2000000000", "--max-outbound-envelopes", "100000000"]
const rows: Array<[string, Awaited<ReturnType<typeof pausedRss>>]> = [
  [`${TICKERS} tickers, default buffer (4 MiB)`, await pausedRss([], TICKERS)],
  ["1 ticker, default buffer (4 MiB)", await pausedRss([], 1)],
  ["1 ticker, buffer unbounded (baseline)", await pausedRss(unboundedArgs, 1)]
]
console.log("server RSS, paused reader:")
for (const [label, r] of rows) {
  console.log(
    `  ${label.padEnd(38)} +${(r.peak - r.before).toFixed(0).padStart(4)} MB over ${r.before.toFixed(0)} MB, ${
      String(r.events).padStart(6)
    } events produced in ${r.seconds.toFixed(0)} s`
  )
}
const growth = (r: Awaited<ReturnType<typeof pausedRss>>) => Math.max(1, r.peak - r.before)
const [, one] = rows[1]!
const [, unbounded] = rows[2]!
console.log(`  ratio bounded / unbounded growth, 1 ticker: ${(growth(one) / growth(unbounded)).toFixed(2)}`)
process.exit(0)
