/**
 * bench/profiles: where each side-by-side load's server CPU goes, arcp beside the peer. For each load of
 * bench/sidebyside, each server is started fresh (arcp: the compiled dist/ modules through
 * bench/support/distServer.mjs, unbundled so every function keeps its file, on a SQLite file in the default
 * durability; the peer: its serve-peer.sh, when found as bench/sidebyside finds it), warmed for WARM_UP_SECONDS, then
 * profiled by V8's sampling profiler (bench/support/profileOnSignal.mjs, the same preload in both) for
 * BENCH_SECONDS of the load. Prints, per load, the CPU per operation by category (ProfileCategories) for each
 * server: what docs/benchmarks.md's "Where the time goes, beside the peer" reads. The profiler slows both servers;
 * read the shares and the ratios, not the rates. BENCH_LOADS picks loads by name (e.g. `echo-1,ticker`).
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import buildDist from "../test/support/BuildOnce.js"
import { busy, IDLE, PROFILER, summarize } from "./support/ProfileCategories.js"
import { peerScript, root, runLoadgen, type Server, start, stop } from "./support/Servers.js"

const SECONDS = Number(process.env["BENCH_SECONDS"] ?? 5)
const WARM_UP_SECONDS = 3
const PRELOAD = join(root, "bench", "support", "profileOnSignal.mjs")
const LOADS: ReadonlyArray<readonly [string, string, Record<string, unknown>]> = [
  ["echo-1", "echo, 1 in flight", { kind: "echo", inFlight: 1 }],
  ["echo-64", "echo, 64 in flight, 1 connection", { kind: "echo", inFlight: 64 }],
  ["echo-8x16", "echo, 8 connections × 16", { kind: "echo", inFlight: 16, connections: 8 }],
  ["handshake", "handshakes (connect, open, accepted, close)", { kind: "handshake" }],
  ["ticker", "ticker events (1,000 progress per job)", { kind: "ticker", count: 1000 }]
]
const wanted = (process.env["BENCH_LOADS"] ?? "").split(",").filter((name) => name !== "")

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

interface Profiled {
  readonly ops: number
  readonly rate: number
  /** µs per operation, by category */
  readonly perOp: Map<string, number>
}

/** Warms `server`, profiles SECONDS of `load` and stops it; the profile of its busiest process (tsx runs two). */
const profile = async (server: Server, load: Record<string, unknown>, out: string): Promise<Profiled | string> => {
  try {
    runLoadgen(server.url, load, WARM_UP_SECONDS)
    stop(server, "SIGUSR2")
    await sleep(300)
    const report = runLoadgen(server.url, load, SECONDS)
    if ("error" in report) return report.error
    const exited = new Promise((resolve) => server.child.once("exit", resolve))
    stop(server, "SIGINT")
    await Promise.race([exited, sleep(10_000)])
    await sleep(500)
    const files = readdirSync(out).filter((f) => f.startsWith(`${server.name}.`)).map((f) => join(out, f))
    const summaries = files.map(summarize).sort((a, b) => busy(b) - busy(a))
    files.forEach((file) => rmSync(file))
    const summary = summaries[0]
    if (summary === undefined) return "no profile written"
    const ops = report.events ?? report.latencies.length
    const perOp = new Map([...summary].map(([category, time]) => [category, time / ops]))
    return { ops, rate: (ops / report.elapsedMs) * 1000, perOp }
  } finally {
    stop(server, "SIGKILL")
  }
}

const fmt = (us: number | undefined) => us === undefined ? "—" : us >= 100 ? us.toFixed(0) : us.toFixed(1)

const main = async () => {
  buildDist()
  const dir = mkdtempSync(join(tmpdir(), "arcp-profiles-"))
  const script = peerScript()
  const env = (name: string) => ({ ...process.env, ARCP_PROFILE_OUT: join(dir, name) })
  const servers: Array<{ readonly name: string; readonly start: (n: number) => Promise<Server> }> = [{
    name: "arcp",
    start: (n) =>
      start(
        "arcp",
        process.execPath,
        () => ["--import", PRELOAD, join(root, "bench", "support", "distServer.mjs"), join(dir, `log.${n}.db`)],
        /"url":"(ws:\/\/[^"]+)"/,
        60_000,
        { env: env("arcp"), stdin: "pipe" }
      )
  }]
  if (script !== undefined) {
    servers.push({
      name: "peer",
      start: () =>
        start("peer", script, () => ["--port", "0"], /peer listening on (ws:\/\/\S+)/, 600_000, {
          env: { ...env("peer"), NODE_OPTIONS: `--import ${PRELOAD}` }
        })
    })
  }
  console.log(
    `bench/profiles (${SECONDS} s profiled per load and server after ${WARM_UP_SECONDS} s of warm-up; CPU µs per operation)${
      script === undefined ? ": arcp alone (peer not found: set ARCP_PEER to its serve-peer.sh)" : ""
    }`
  )
  try {
    let n = 0
    for (const [name, title, load] of LOADS) {
      if (wanted.length > 0 && !wanted.includes(name)) continue
      const results = new Map<string, Profiled>()
      for (const server of servers) {
        const result = await profile(await server.start(n++), load, dir)
        if (typeof result === "string") console.error(`  ${server.name}, ${name}: ${result}`)
        else results.set(server.name, result)
      }
      const names = [...results.keys()]
      const categories = [
        ...new Set(
          names.flatMap((s) => [...(results.get(s)?.perOp.keys() ?? [])]).filter((c) => c !== IDLE && c !== PROFILER)
        )
      ].sort((a, b) =>
        (results.get(names[0] ?? "")?.perOp.get(b) ?? 0) - (results.get(names[0] ?? "")?.perOp.get(a) ?? 0)
      )
      console.log(`\n${title}`)
      console.log(`| µs per operation | ${names.join(" | ")} |`)
      console.log(`|---|${names.map(() => "---|").join("")}`)
      const total = (s: string) => {
        const perOp = results.get(s)?.perOp
        return perOp === undefined ? undefined : busy(perOp)
      }
      console.log(`| **CPU** | ${names.map((s) => `**${fmt(total(s))}**`).join(" | ")} |`)
      for (const category of categories) {
        console.log(`| ${category} | ${names.map((s) => fmt(results.get(s)?.perOp.get(category))).join(" | ")} |`)
      }
      console.log(`| idle | ${names.map((s) => fmt(results.get(s)?.perOp.get(IDLE))).join(" | ")} |`)
      console.log(`| (rate while profiled) | ${names.map((s) => `${fmt(results.get(s)?.rate)}/s`).join(" | ")} |`)
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
    if (existsSync(dir)) console.error(`could not remove ${dir}`)
  }
}

await main()
