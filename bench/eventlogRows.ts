/**
 * bench/eventlogRows: what the SQLite log's rows cost per echo and per ticker event, by schema, in one run.
 * The writes are an echo's as the runtime makes them (one commit: the invoke, its `inbound` row and session
 * owner; one commit: the job record and `job.accepted`, `job.started`, `tool.result`) and a ticker's (commits
 * of 54 `job.progress` / `job.checkpoint` rows), on files migrated by the log itself, then set to each schema:
 * the indexes as migration 0010 left them (AUTOINCREMENT, seven indexes), today's (0011), today's without the
 * trace index, and no secondary index at all (the floor). Reported: CPU per echo / per ticker row (this process,
 * so the WAL's write syscalls count) and WAL bytes written, as ratios to 0010's. Checkpoints run between
 * measured blocks (every 128 commits, as the runtime's worker does), outside the timing.
 * `BENCH_SESSIONS` (default 64) sessions each with its own trace id; client message ids are random.
 */
import Database from "better-sqlite3"
import { Effect, Layer } from "effect"
import { randomBytes } from "node:crypto"
import { mkdtempSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as SqliteEventLog from "../src/store/SqliteEventLog.js"

const EVENTS_0010 = `CREATE TABLE events_old (seq INTEGER PRIMARY KEY AUTOINCREMENT, direction TEXT NOT NULL,
    session_id TEXT NOT NULL, message_id TEXT NOT NULL, type TEXT NOT NULL, job_id TEXT, stream_id TEXT, trace_id TEXT,
    correlation_id TEXT, timestamp TEXT NOT NULL, body TEXT NOT NULL, copy INTEGER NOT NULL DEFAULT 0);
  DROP TABLE events; ALTER TABLE events_old RENAME TO events; DROP INDEX jobs_unfinished;
  CREATE INDEX events_session ON events (session_id, seq); CREATE INDEX events_correlation ON events (correlation_id);
  CREATE INDEX events_job_seq ON events (job_id, seq) WHERE job_id IS NOT NULL;
  CREATE INDEX events_stream ON events (stream_id, seq) WHERE stream_id IS NOT NULL;
  CREATE INDEX events_trace ON events (trace_id, seq) WHERE trace_id IS NOT NULL;
  CREATE INDEX events_session_message ON events (session_id, message_id); CREATE INDEX events_message ON events (message_id);`
const schemas: ReadonlyArray<readonly [string, string]> = [
  ["0010 (before)", EVENTS_0010],
  ["0011 (now)", ""],
  ["0011 without events_trace", "DROP INDEX events_trace"],
  [
    "no secondary index (floor)",
    ["session", "message", "job_seq", "stream", "trace", "correlation"]
      .map((i) => `DROP INDEX events_${i};`).join(" ")
  ]
]
const SESSIONS = Number(process.env.BENCH_SESSIONS ?? 64)
const PREFILL = 20_000
const ECHOES = 3000
const ROUNDS = 3
const body = "x".repeat(440)
let counter = 0
const monotonic = (prefix: string) => `${prefix}_01M8MJ9AX0${(counter++).toString(32).padStart(16, "0")}`
const hex = () => randomBytes(16).toString("hex")
const cpu = () => {
  const u = process.cpuUsage()
  return u.user + u.system
}

interface Envelope {
  readonly id: string
  readonly type: string
  readonly session: string
  readonly job?: string
  readonly trace?: string
  readonly correlation?: string
}

const open = async (ddl: string) => {
  const dir = mkdtempSync(join(tmpdir(), "arcp-rows-"))
  const file = join(dir, "events.db")
  await Effect.runPromise(Effect.scoped(Layer.build(SqliteEventLog.layer({ filename: file }))))
  const db = new Database(file)
  db.exec(ddl)
  db.pragma("journal_mode = WAL")
  db.pragma("synchronous = NORMAL")
  db.pragma("wal_autocheckpoint = 0")
  // the statements of store/internal/SqliteWriter
  const insert = db.prepare(`INSERT INTO events (direction, session_id, message_id, type, job_id, stream_id, trace_id,
    correlation_id, timestamp, body) VALUES (?, ?, ?, ?, ?, NULL, ?, ?, 't', ?)`)
  const claim = db.prepare("INSERT OR IGNORE INTO inbound (principal, message_id) VALUES ('alice', ?)")
  const own = db.prepare("INSERT OR IGNORE INTO sessions (session_id, principal) VALUES (?, 'alice')")
  const saveJob = db.prepare(`INSERT OR REPLACE INTO jobs (job_id, session_id, principal, tool, command_id, state,
    checkpoint_id, retry_count, cancel_reason, idempotency_key, terminal, created_at, updated_at, instance_id, arguments)
    VALUES (?, ?, 'alice', 'echo', ?, 'completed', NULL, 0, NULL, NULL, ?, 1, 2, 'rt_1', '{}')`)
  const append = (direction: string, e: Envelope) =>
    insert.run(direction, e.session, e.id, e.type, e.job ?? null, e.trace ?? null, e.correlation ?? null, body)
  const inbound = db.transaction((e: Envelope) => {
    own.run(e.session)
    if (claim.run(e.id).changes > 0) append("in", e)
  })
  const outbound = db.transaction((job: readonly [string, string, string] | undefined, es: ReadonlyArray<Envelope>) => {
    if (job !== undefined) saveJob.run(...job, body)
    for (const e of es) append("out", e)
  })
  const sessions = Array.from({ length: SESSIONS }, () => ({ id: monotonic("sess"), trace: hex() }))
  const echo = (i: number) => {
    const s = sessions[i % SESSIONS] ?? { id: "sess", trace: "t" }
    const command = `msg_${hex()}`
    const job = monotonic("job")
    const out = (type: string, correlation?: string): Envelope => ({
      id: monotonic("msg"),
      type,
      session: s.id,
      job,
      trace: s.trace,
      ...(correlation !== undefined ? { correlation } : {})
    })
    inbound({ id: command, type: "tool.invoke", session: s.id })
    outbound([job, s.id, command], [out("job.accepted", command), out("job.started"), out("tool.result", command)])
  }
  const ticker = (i: number) => {
    const s = sessions[i % SESSIONS] ?? { id: "sess", trace: "t" }
    const es: Array<Envelope> = []
    for (let k = 0; k < 54; k++) {
      es.push({
        id: monotonic("msg"),
        type: k % 2 ? "job.checkpoint" : "job.progress",
        session: s.id,
        job: `job_t${i}`
      })
    }
    outbound(undefined, es.map((e) => ({ ...e, trace: s.trace })))
  }
  const walBytes = () => {
    try {
      return statSync(`${file}-wal`).size
    } catch {
      return 0
    }
  }
  const checkpoint = () => db.pragma("wal_checkpoint(TRUNCATE)")
  /** `n` calls of `step` in blocks of `block` commits' worth, checkpointed between blocks: CPU µs and WAL bytes. */
  const measure = (step: (i: number) => void, n: number, block: number) => {
    let us = 0
    let bytes = 0
    for (let i = 0; i < n; i += block) {
      const start = cpu()
      for (let j = i; j < Math.min(n, i + block); j++) step(j)
      us += cpu() - start
      bytes += walBytes()
      checkpoint()
    }
    return { us: us / n, bytes: bytes / n }
  }
  measure(echo, PREFILL, 500)
  return {
    echoes: () => measure(echo, ECHOES, 64),
    ticks: () => measure(ticker, ECHOES / 10, 128),
    close: () => {
      db.close()
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

const logs = []
for (const [, ddl] of schemas) logs.push(await open(ddl))
const results = schemas.map(() => ({
  echo: [] as Array<number>,
  echoBytes: 0,
  tick: [] as Array<number>,
  tickBytes: 0
}))
for (let round = 0; round < ROUNDS; round++) {
  // the order swapped each round
  const order = schemas.map((_, i) => (round % 2 === 0 ? i : schemas.length - 1 - i))
  for (const i of order) {
    const log = logs[i]
    const result = results[i]
    if (log === undefined || result === undefined) continue
    const e = log.echoes()
    const t = log.ticks()
    result.echo.push(e.us)
    result.echoBytes = e.bytes
    result.tick.push(t.us / 54)
    result.tickBytes = t.bytes / 54
  }
}
for (const log of logs) log.close()

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0
const base = results[0]
console.log(
  `bench/eventlogRows (SQLite WAL NORMAL, ${SESSIONS} sessions, ${PREFILL} echoes before, medians of ${ROUNDS})`
)
console.log("schema                          echo: CPU µs  ratio   WAL KB   ticker row: CPU µs  ratio   WAL KB")
schemas.forEach(([name], i) => {
  const r = results[i]
  if (r === undefined || base === undefined) return
  const cell = (v: number, b: number) => `${v.toFixed(1).padStart(8)}  ${(v / b).toFixed(2).padStart(5)}x`
  console.log(
    `${name.padEnd(30)} ${cell(median(r.echo), median(base.echo))} ${(r.echoBytes / 1024).toFixed(1).padStart(7)}   ${
      cell(median(r.tick), median(base.tick))
    } ${(r.tickBytes / 1024).toFixed(2).padStart(7)}`
  )
})
