/**
 * bench/logpages: what the durable log writes per operation, by table and index. In WAL mode a commit writes
 * every page it dirtied, whole (4 KB), so the pages a commit touches are the log's cost: their CPU, their
 * system calls and what they do to the caches. Each load runs against a fresh `arcp serve` (bin/arcp.js, the
 * default SQLite store) for a short while; the server is then killed (its WAL stays as it was) and the frames
 * the load wrote are read back: commits per operation, pages per commit, WAL bytes per operation, and pages per
 * operation by the table or index they belong to (SQLite's `dbstat`). Unlike a rate, these counts do not move
 * with the machine's load, so two builds compare exactly.
 *
 * BENCH_SECONDS (default 1) per load; a load that writes more than the WAL's bound (~64 MB) starts the file
 * over, and its row says so.
 */
import Database from "better-sqlite3"
import { spawnSync } from "node:child_process"
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import buildDist from "../test/support/BuildOnce.js"
import { root, serveWs } from "../test/support/Child.js"

const SECONDS = Number(process.env["BENCH_SECONDS"] ?? 1)
const TOKEN = "tok"

const LOADS: ReadonlyArray<readonly [string, Record<string, unknown>]> = [
  ["echo, 1 in flight", { kind: "echo", inFlight: 1 }],
  ["echo, 64 in flight, 1 connection", { kind: "echo", inFlight: 64 }],
  ["echo, 8 connections × 16", { kind: "echo", connections: 8, inFlight: 16 }],
  ["handshakes (connect, open, accepted, close)", { kind: "handshake" }],
  ["ticker events (1,000 progress per job)", { kind: "ticker", count: 1000 }],
  ["stream chunks (1,000 text chunks per job)", { kind: "stream", count: 1000 }]
]

interface Wal {
  readonly salts: readonly [number, number]
  /** Page numbers of each committed transaction, in order. */
  readonly commits: ReadonlyArray<ReadonlyArray<number>>
  readonly frameBytes: number
}

/** The committed transactions of the WAL's current generation (frames whose salts are the header's). */
const readWal = (file: string): Wal | undefined => {
  if (!existsSync(file)) return undefined
  const wal = readFileSync(file)
  if (wal.length < 32) return undefined
  const pageSize = wal.readUInt32BE(8)
  const salts = [wal.readUInt32BE(16), wal.readUInt32BE(20)] as const
  const commits: Array<Array<number>> = []
  let pending: Array<number> = []
  for (let at = 32; at + 24 + pageSize <= wal.length; at += 24 + pageSize) {
    if (wal.readUInt32BE(at + 8) !== salts[0] || wal.readUInt32BE(at + 12) !== salts[1]) break
    pending.push(wal.readUInt32BE(at))
    // a frame with the database size set ends a transaction
    if (wal.readUInt32BE(at + 4) !== 0) {
      commits.push(pending)
      pending = []
    }
  }
  return { salts, commits, frameBytes: 24 + pageSize }
}

/** Which table or index each page of `db` (with `wal` applied) belongs to; read from a copy. */
const pageOwners = (db: string, wal: string, dir: string): Map<number, string> => {
  const copy = join(dir, "owners.db")
  copyFileSync(db, copy)
  copyFileSync(wal, `${copy}-wal`)
  const reader = new Database(copy)
  try {
    const rows = reader.prepare("SELECT name, pageno FROM dbstat").all() as Array<{ name: string; pageno: number }>
    const owners = new Map(rows.map((r) => [r.pageno, r.name]))
    // page 1 is the file's header as well as the schema's root: a commit that grows the file rewrites it
    owners.set(1, "page 1 (header)")
    return owners
  } finally {
    reader.close()
    for (const suffix of ["", "-wal", "-shm"]) rmSync(`${copy}${suffix}`, { force: true })
  }
}

const measure = async (dir: string, name: string, load: Record<string, unknown>) => {
  const db = join(dir, `${name.replace(/\W+/g, "-")}.db`)
  const { address: url, child } = await serveWs(["--bearer", `${TOKEN}=alice`, "--db", db])
  const exited = new Promise((done) => child.once("exit", done))
  try {
    const before = readWal(`${db}-wal`)
    const run = spawnSync(process.execPath, [
      "--import",
      "tsx",
      join(root, "bench", "support", "loadgen.ts"),
      JSON.stringify({ url, token: TOKEN, seconds: SECONDS, ...load })
    ], { cwd: root, encoding: "utf8", maxBuffer: 256 * 1024 * 1024, timeout: (SECONDS + 60) * 1000 })
    if (run.status !== 0) throw new Error(run.stderr.trim())
    const result = JSON.parse(run.stdout.trim().split("\n").at(-1) ?? "{}") as {
      latencies: Array<number>
      events?: number
    }
    const ops = result.events ?? result.latencies.length
    // killed, not stopped: a clean stop checkpoints and removes the WAL this reads
    child.kill("SIGKILL")
    await exited
    const after = readWal(`${db}-wal`)
    if (after === undefined || ops === 0) throw new Error("nothing was written")
    const sameGeneration = before !== undefined && before.salts[0] === after.salts[0] &&
      before.salts[1] === after.salts[1]
    const commits = after.commits.slice(sameGeneration ? before.commits.length : 0)
    const owners = pageOwners(db, `${db}-wal`, dir)
    const byOwner = new Map<string, number>()
    let pages = 0
    for (const commit of commits) {
      for (const page of commit) {
        const owner = owners.get(page) ?? "(freed since)"
        byOwner.set(owner, (byOwner.get(owner) ?? 0) + 1)
        pages++
      }
    }
    const note = sameGeneration ? "" : " (the WAL started over during the load: per-operation figures undercount)"
    console.log(
      `${name.padEnd(46)} ${ops} ops, ${(commits.length / ops).toFixed(2)} commits/op, ${
        (pages / Math.max(1, commits.length)).toFixed(1)
      } pages/commit, ${(pages / ops).toFixed(2)} pages/op, ${
        ((pages * after.frameBytes) / ops / 1024).toFixed(1)
      } KB of WAL/op${note}`
    )
    for (const [owner, count] of [...byOwner].sort((a, b) => b[1] - a[1])) {
      console.log(`    ${(count / ops).toFixed(2).padStart(6)} pages/op  ${owner}`)
    }
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
    await exited
  }
}

const main = async () => {
  buildDist() // the spawned `arcp serve` runs dist/: make sure it is today's source
  const dir = mkdtempSync(join(tmpdir(), "arcp-logpages-"))
  try {
    console.log(
      `bench/logpages (${SECONDS} s per load, default SQLite store): what a commit writes, by table and index`
    )
    for (const [name, load] of LOADS) await measure(dir, name, load)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

await main()
