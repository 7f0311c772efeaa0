/**
 * bench/eventlog: appends per second to the SQLite event log on a temp file:
 * one awaited append at a time, 1000 single appends in flight (group commit
 * batches them), and 100-envelope batches; with synchronous FULL and NORMAL.
 */
import { Effect } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { performance } from "node:perf_hooks"
import { EventLog, type LoggedEnvelope } from "../src/store/EventLog.js"
import * as SqliteEventLog from "../src/store/SqliteEventLog.js"

const body = JSON.stringify({
  arcp: "1.0",
  id: "msg_01JABCDEFGHJKMNPQRSTVWXYZ0",
  timestamp: "2026-05-09T13:00:00.000Z",
  session_id: "sess_01JABCDEFGHJKMNPQRSTVWXYZ0",
  job_id: "job_01JABCDEFGHJKMNPQRSTVWXYZ0",
  trace_id: "trace_01JABC",
  causation_id: "msg_01JABCDEFGHJKMNPQRSTVWXYZ1",
  type: "job.progress",
  payload: {
    percent: 42,
    current: 42,
    total: 100,
    message: "Embedding documents into the vector store, batch 42 of 100"
  }
})
let n = 0
const envelope = (): LoggedEnvelope => ({
  id: `msg_${++n}`,
  type: "job.progress",
  session_id: "sess_1",
  job_id: "job_1",
  trace_id: "trace_1",
  timestamp: "2026-05-09T13:00:00.000Z",
  json: body
})

const measure = (name: string, count: number, run: Effect.Effect<void, unknown, EventLog>) =>
  Effect.gen(function*() {
    const start = performance.now()
    yield* run
    const ms = performance.now() - start
    console.log(
      `${name.padEnd(46)} ${((count / ms) * 1000).toFixed(0).padStart(8)} appends/s   (${count} in ${ms.toFixed(0)} ms)`
    )
  })

const suite = (synchronous: "FULL" | "NORMAL") =>
  Effect.gen(function*() {
    const dir = mkdtempSync(join(tmpdir(), "arcp-eventlog-"))
    yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
    yield* Effect.gen(function*() {
      const log = yield* EventLog
      yield* measure(
        `sequential awaited appends, ${synchronous}`,
        3000,
        Effect.forEach(Array.from({ length: 3000 }), () => log.recordOutbound([envelope()]), { discard: true })
      )
      yield* measure(
        `1000 in flight (group commit), ${synchronous}`,
        30_000,
        Effect.forEach(
          Array.from({ length: 30 }),
          () =>
            Effect.forEach(Array.from({ length: 1000 }), () => log.recordOutbound([envelope()]), {
              concurrency: "unbounded",
              discard: true
            }),
          { discard: true }
        )
      )
      yield* measure(
        `batches of 100 per call, ${synchronous}`,
        50_000,
        Effect.forEach(Array.from({ length: 500 }), () => log.recordOutbound(Array.from({ length: 100 }, envelope)), {
          discard: true
        })
      )
    }).pipe(Effect.provide(SqliteEventLog.layer({ filename: join(dir, "bench.db"), synchronous })))
  }).pipe(Effect.scoped)

console.log("bench/eventlog (SQLite, WAL, ~400-byte envelopes)")
await Effect.runPromise(Effect.zipRight(suite("NORMAL"), suite("FULL")))
