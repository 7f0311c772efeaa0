/**
 * bench/sidebyside: arcp against the reference TypeScript SDK (the "peer"), same loads, same load generator,
 * interleaved in one run, so the ratios hold even on a busy machine. Each server runs in its own process
 * (`arcp serve` from bin/arcp.js, the peer from serve-peer.sh) and the load generator in another
 * (bench/support/loadgen.ts, bare `ws` + JSON), as a user's would. Without the peer (CI, a fresh clone)
 * the same rows print for arcp alone.
 *
 * The peer is found at $ARCP_PEER (the serve-peer.sh script) or ../shared/peers/serve-peer.sh next to the
 * repository or its worktree folder; $ARCP_PEER_DIR is the peer's install cache, passed through.
 * BENCH_SECONDS (default 3) per row and server; BENCH_MODES picks arcp's stores (default
 * `default,full,memory`: SQLite file WAL + synchronous=NORMAL, `--durability full`, `--db :memory:`; `postgres`
 * adds `--store $ARCP_BENCH_PG_URL`, a PostgreSQL database the run may write to);
 * BENCH_ROUNDS repeats the load rows with the servers' order swapped. BENCH_FRESH=1 starts every server again
 * (arcp on a new log file) before each of its rows and warms it with WARM_UP_SECONDS of the row's load, not
 * counted: a server that slows as its process ages (the peer, whose log is in memory, does) is then measured
 * young on every row, and neither is measured while its JIT is cold.
 *
 * BENCH_SUSTAINED=N ends the run with N back-to-back BENCH_SECONDS runs of echo at 64 in flight against one
 * new process of each server, printing each run's rate, p99 and the server's RSS: what a long-lived server does
 * as traffic accumulates (a log kept in memory grows; one on disk does not).
 *
 * Beside them runs the "floor" (bench/support/floorServer.mjs): a bare `ws` server answering with canned
 * envelopes, no runtime at all. Its rates are the most this load generator gets on this machine, so a
 * "floor / peer" column says how far above the peer any server could go on each row (BENCH_FLOOR=0 skips it).
 */
import { spawn, spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { performance } from "node:perf_hooks"
import buildDist from "../test/support/BuildOnce.js"
import { peerScript, root, runLoadgen, type Server, start, stop, TOKEN } from "./support/Servers.js"

const SECONDS = Number(process.env["BENCH_SECONDS"] ?? 3)
const ROUNDS = Number(process.env["BENCH_ROUNDS"] ?? 1)
const MODES = (process.env["BENCH_MODES"] ?? "default,full,memory").split(",").filter((m) => m !== "")
const IDLE_SESSIONS = 1000
const FLOOR = process.env["BENCH_FLOOR"] !== "0"
const FRESH = process.env["BENCH_FRESH"] === "1"
const WARM_UP_SECONDS = 2
const SUSTAINED = Number(process.env["BENCH_SUSTAINED"] ?? 0)

/** `servers[i]` stopped and started again, in its place. */
const restart = async (servers: Array<Server>, i: number): Promise<Server> => {
  const server = servers[i]
  if (server === undefined) throw new Error(`no server ${i}`)
  stop(server)
  const restarted = await server.again()
  servers[i] = restarted
  return restarted
}

/** With BENCH_FRESH, `servers[i]` started again; else as it is. */
const fresh = async (servers: Array<Server>, i: number): Promise<Server> => {
  const server = servers[i]
  if (server === undefined) throw new Error(`no server ${i}`)
  return FRESH ? restart(servers, i) : server
}

/** RSS of a process and all its descendants, in bytes (Linux /proc; undefined elsewhere). */
const treeRss = (pid: number): number | undefined => {
  if (!existsSync(`/proc/${pid}/status`)) return undefined
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))
  let total = Number(rss?.[1] ?? 0) * 1024
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    const children = readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").trim()
    for (const child of children === "" ? [] : children.split(" ")) total += treeRss(Number(child)) ?? 0
  }
  return total
}

interface Result {
  readonly rate: number
  readonly p50: number
  readonly p99: number
  readonly note?: string
}

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0

/** Runs one load in a fresh load-generator process against `server`. */
const runLoad = (server: Server, load: Record<string, unknown>, seconds = SECONDS): Result => {
  const report = runLoadgen(server.url, load, seconds)
  if ("error" in report) {
    console.error(`  ${server.name}: ${report.error}`)
    return { rate: Number.NaN, p50: 0, p99: 0, note: "failed" }
  }
  const { elapsedMs, events, latencies } = report
  latencies.sort((a, b) => a - b)
  const count = events ?? latencies.length
  return { rate: (count / elapsedMs) * 1000, p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99) }
}

/** BENCH_SUSTAINED: each server (but the floor) started again, then SUSTAINED runs of echo at 64 in flight in a row. */
const sustained = async (servers: Array<Server>) => {
  const load = { kind: "echo", inFlight: 64 }
  console.log(
    `\nsustained: ${SUSTAINED} runs of ${SECONDS} s of echo at 64 in flight, one process each (rate, p99, RSS)`
  )
  for (let i = 0; i < servers.length; i++) {
    if (servers[i]?.name === "floor") continue
    const server = await restart(servers, i)
    const runs: Array<string> = []
    for (let run = 0; run < SUSTAINED; run++) {
      const result = runLoad(server, load)
      const rss = treeRss(server.pid)
      runs.push(
        `${fmt(result.rate)}/s ${fmt(result.p99)} ms ${rss === undefined ? "?" : (rss / 1048576).toFixed(0)} MB`
      )
    }
    console.log(`  ${server.name.padEnd(13)} ${runs.join(" | ")}`)
  }
}

/** Server RSS growth per session with IDLE_SESSIONS sessions open and idle. */
const idleMemory = async (server: Server): Promise<Result> => {
  const before = treeRss(server.pid)
  if (before === undefined) return { rate: Number.NaN, p50: 0, p99: 0, note: "no /proc" }
  const description = JSON.stringify({
    url: server.url,
    token: TOKEN,
    seconds: 0,
    kind: "idle",
    sessions: IDLE_SESSIONS
  })
  const child = spawn(
    process.execPath,
    ["--import", "tsx", join(root, "bench", "support", "loadgen.ts"), description],
    {
      cwd: root,
      stdio: ["pipe", "pipe", "inherit"]
    }
  )
  await new Promise<void>((resolvePromise, reject) => {
    child.stdout.once("data", () => resolvePromise())
    child.once("exit", (code) => reject(new Error(`${server.name}: idle sessions exited with ${code}`)))
  })
  await new Promise((r) => setTimeout(r, 1500))
  const after = treeRss(server.pid) ?? before
  child.stdin.end()
  await new Promise((r) => child.once("exit", r))
  return { rate: (after - before) / IDLE_SESSIONS / 1024, p50: 0, p99: 0 }
}

const timeVersion = (): Result => {
  const times: Array<number> = []
  for (let i = 0; i < 5; i++) {
    const t = performance.now()
    spawnSync(process.execPath, [join(root, "bin", "arcp.js"), "version"], { stdio: "ignore" })
    times.push(performance.now() - t)
  }
  times.sort((a, b) => a - b)
  return { rate: percentile(times, 0.5), p50: 0, p99: 0 }
}

interface Row {
  readonly name: string
  readonly unit: string
  /** true when a larger number is better (rates); false for times and memory */
  readonly higher: boolean
  readonly latency: boolean
  readonly cells: Map<string, Array<Result>>
}

const rows: Array<Row> = []
const row = (name: string, unit: string, higher = true, latency = false): Row => {
  const made: Row = { name, unit, higher, latency, cells: new Map() }
  rows.push(made)
  return made
}
const put = (target: Row, server: string, result: Result) =>
  target.cells.set(server, [...(target.cells.get(server) ?? []), result])

const fmt = (n: number) => n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2)
const median = (results: ReadonlyArray<Result>): Result | undefined =>
  [...results].sort((a, b) => a.rate - b.rate)[Math.floor(results.length / 2)]
const cell = (target: Row, server: string) => {
  const result = median(target.cells.get(server) ?? [])
  if (result === undefined || Number.isNaN(result.rate)) return "—"
  return `${fmt(result.rate)} ${target.unit}${
    target.latency ? ` (p50 ${fmt(result.p50)}, p99 ${fmt(result.p99)} ms)` : ""
  }`
}

const main = async () => {
  buildDist() // the spawned `arcp serve` runs dist/: make sure it is today's source
  const dir = mkdtempSync(join(tmpdir(), "arcp-sidebyside-"))
  const servers: Array<Server> = []
  const startup = row("server start until listening", "ms", false)
  const memory = row(`memory per idle session (${IDLE_SESSIONS} held)`, "KB", false)
  try {
    for (const mode of MODES) {
      const args = [join(root, "bin", "arcp.js"), "serve", "--port", "0", "--bearer", `${TOKEN}=alice`]
      let log = (_n: number): Array<string> => []
      if (mode === "postgres") {
        const url = process.env["ARCP_BENCH_PG_URL"]
        if (url === undefined) {
          console.error("mode postgres needs ARCP_BENCH_PG_URL (a database the bench may write to): skipped")
          continue
        }
        args.push("--store", url, "--artifacts-dir", join(dir, "pg.artifacts"))
      } else log = (n) => ["--db", mode === "memory" ? ":memory:" : join(dir, `${mode}.${n}.db`)]
      if (mode === "full") args.push("--durability", "full")
      const server = await start(
        `arcp ${mode}`,
        process.execPath,
        (n) => [...args, ...log(n)],
        /serving on (ws:\/\/\S+)/,
        60_000
      )
      servers.push(server)
      put(startup, server.name, { rate: server.startMs, p50: 0, p99: 0 })
    }
    const script = peerScript()
    if (script !== undefined) {
      const peer = await start("peer", script, () => ["--port", "0"], /peer listening on (ws:\/\/\S+)/, 600_000)
      servers.push(peer)
      put(startup, peer.name, { rate: peer.startMs, p50: 0, p99: 0 })
    }
    if (FLOOR) {
      const floor = join(root, "bench", "support", "floorServer.mjs")
      servers.push(await start("floor", process.execPath, () => [floor], /floor listening on (ws:\/\/\S+)/, 60_000))
    }
    const names = servers.map((s) => s.name)
    console.log(
      `bench/sidebyside (${SECONDS} s per row and server, ${ROUNDS} round(s)${
        FRESH ? `, every server started again and warmed for ${WARM_UP_SECONDS} s before each row` : ""
      }): ${names.join(", ")}${
        script === undefined ? " (peer not found: set ARCP_PEER to its serve-peer.sh for ratios)" : ""
      }`
    )
    for (const server of servers) put(memory, server.name, await idleMemory(server))

    const loads: Array<[Row, Record<string, unknown>]> = [
      [row("echo, 1 in flight", "/s", true, true), { kind: "echo", inFlight: 1 }],
      [row("echo, 64 in flight, 1 connection", "/s", true, true), { kind: "echo", inFlight: 64 }],
      [row("echo, 8 connections × 16", "/s", true, true), { kind: "echo", inFlight: 16, connections: 8 }],
      [row("handshakes (connect, open, accepted, close)", "/s", true, true), { kind: "handshake" }],
      [row("ticker events (1,000 progress per job)", "ev/s"), { kind: "ticker", count: 1000 }]
    ]
    for (let round = 0; round < ROUNDS; round++) {
      const order = servers.map((_, i) => i)
      if (round % 2 === 1) order.reverse()
      for (const [target, load] of loads) {
        for (const i of order) {
          const server = await fresh(servers, i)
          if (FRESH) runLoad(server, load, WARM_UP_SECONDS)
          const result = runLoad(server, load)
          put(target, server.name, result)
          console.log(
            `  ${target.name.padEnd(44)} ${server.name.padEnd(13)} ${
              cell({ ...target, cells: new Map([[server.name, [result]]]) }, server.name)
            }`
          )
        }
      }
    }
    put(row("`arcp version`", "ms", false), "arcp default", timeVersion())

    // the table, markdown, arcp's default store against the peer
    const base = names.find((n) => n === "arcp default") ?? names[0] ?? ""
    const hasPeer = names.includes("peer")
    const hasFloor = hasPeer && names.includes("floor")
    const ratioOf = (target: Row, over: string, under: string) => {
      const a = median(target.cells.get(over) ?? [])
      const b = median(target.cells.get(under) ?? [])
      return a !== undefined && b !== undefined && a.rate > 0 && b.rate > 0
        ? `${(target.higher ? a.rate / b.rate : b.rate / a.rate).toFixed(2)}×`
        : "—"
    }
    console.log()
    console.log(
      `| load | ${names.join(" | ")} |${hasPeer ? ` ${base} / peer |` : ""}${hasFloor ? " floor / peer |" : ""}`
    )
    console.log(`|---|${names.map(() => "---|").join("")}${hasPeer ? "---|" : ""}${hasFloor ? "---|" : ""}`)
    for (const target of rows) {
      console.log(
        `| ${target.name} | ${names.map((n) => cell(target, n)).join(" | ")} |${
          hasPeer ? ` ${ratioOf(target, base, "peer")} |` : ""
        }${hasFloor ? ` ${ratioOf(target, "floor", "peer")} |` : ""}`
      )
    }
    if (hasPeer) console.log("(ratio: how many times better arcp is; above 1 arcp wins, for times and memory too)")
    if (hasFloor) {
      console.log("(floor / peer: the most any server could reach against the peer with this load generator)")
    }
    // after the table: it restarts the servers
    if (SUSTAINED > 0) await sustained(servers)
  } finally {
    servers.forEach((server) => stop(server))
    rmSync(dir, { recursive: true, force: true })
  }
}

await main()
