/**
 * bench/resume: a session with about 10,000 logged events (a 5,000-tick ticker: a progress and a
 * checkpoint per tick) is dropped, taken back over a new WebSocket and resumed from its start: the
 * time until its last event is replayed, and events/s. Baseline in the same run: reading the same
 * events straight from the SQLite log (the floor of any replay). Prints numbers; asserts nothing.
 */
import { Effect } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { performance } from "node:perf_hooks"
import { ticker } from "../src/cli/demoTools.js"
import { createServer } from "../src/client/promise/Promise.js"
import { readAll } from "../src/store/EventLog.js"
import { EventLog } from "../src/store/EventLog.js"
import * as SqliteEventLog from "../src/store/SqliteEventLog.js"
import { RawWs } from "../test/support/RawWs.js"

const TICKS = 5000
const dir = mkdtempSync(join(tmpdir(), "arcp-bench-resume-"))
const db = join(dir, "arcp.db")

try {
  const server = await createServer({
    port: 0,
    db,
    logLevel: "none",
    auth: { bearer: new Map([["bench", "bench"]]) },
    tools: [ticker]
  })
  const first = await RawWs.open(server.address)
  const accepted = await first.handshake("bench")
  const sessionId = String(accepted.payload.session_id)
  const invoke = first.send("tool.invoke", { tool: "ticker", arguments: { count: TICKS } }, { session_id: sessionId })
  await first.next((m) => m.type === "tool.result" && m.correlation_id === invoke)
  const logged = first.received.length
  first.terminate()
  await first.closed

  const second = await RawWs.open(server.address)
  await second.handshake("bench", sessionId)
  const from = second.received.length
  const start = performance.now()
  second.send("resume", { after_message_id: accepted.id }, { session_id: sessionId })
  await second.next((m) => m.type === "tool.result" && m.correlation_id === invoke, from)
  const replayMs = performance.now() - start
  const replayed = second.received.length - from
  second.close()
  await server.close()

  // the baseline: the same session's events read straight from the log file
  const readStart = performance.now()
  const rows = await Effect.runPromise(
    Effect.scoped(Effect.flatMap(EventLog, (log) => readAll(log, { session_id: [sessionId], direction: "out" }))).pipe(
      Effect.provide(SqliteEventLog.layer({ filename: db }))
    )
  )
  const readMs = performance.now() - readStart

  console.log(`bench/resume (a session of ${logged} events delivered, SQLite log, WebSocket on 127.0.0.1)`)
  console.log(
    `${"resume: replay to the last event".padEnd(40)} ${replayMs.toFixed(0).padStart(6)} ms   ${
      ((replayed / replayMs) * 1000).toFixed(0).padStart(7)
    } events/s   (${replayed} envelopes)`
  )
  console.log(
    `${"baseline: read the log directly".padEnd(40)} ${readMs.toFixed(0).padStart(6)} ms   ${
      ((rows.length / readMs) * 1000).toFixed(0).padStart(7)
    } events/s   (${rows.length} rows)`
  )
  console.log(`resume / direct read: ${(replayMs / readMs).toFixed(1)}x the time`)
} finally {
  rmSync(dir, { recursive: true, force: true })
}
