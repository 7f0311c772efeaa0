/**
 * The log's retention (§19: replay may omit what is older than the retention window), over a real WebSocket on
 * 127.0.0.1 and a real SQLite file, with a retention of one second (its schedule is tested with a TestClock in
 * LogRetention.test): past it, a closed session's events, its ended job and its records leave the file; a job
 * still running keeps its events; the server carries on, its positions counting on from where they were.
 */
import { assert, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { Deferred, Effect, Option, Schema } from "effect"
import { join } from "node:path"
import * as Tools from "../../../src/runtime/Tools.js"
import { EventLog, readAll } from "../../../src/store/EventLog.js"
import * as SqliteEventLog from "../../../src/store/SqliteEventLog.js"
import { open, serverLayer, webSocket } from "../../support/Harness.js"
import { tempDir } from "../../support/TempDir.js"

/** Events and job records in the file, read on a connection of its own. */
const inFile = (filename: string) => {
  const db = new Database(filename, { readonly: true })
  try {
    const count = (table: string) => Number(db.prepare(`SELECT count(*) AS n FROM ${table}`).pluck().get())
    return { events: count("events"), jobs: count("jobs"), sessions: count("durable_sessions") }
  } finally {
    db.close()
  }
}

it.scopedLive("R19-3 past the log retention a closed session's events and records leave the file; a running job keeps its own", () =>
  Effect.gen(function*() {
    const filename = join(yield* tempDir("arcp-retention-"), "events.db")
    const gate = yield* Deferred.make<void>()
    const gated = Tools.make({
      name: "gated",
      description: "runs until the test opens its gate",
      parameters: Schema.Struct({}),
      handler: () => Effect.as(Deferred.await(gate), { done: true })
    })
    yield* Effect.gen(function*() {
      const log = yield* EventLog
      const old = yield* Effect.scoped(Effect.gen(function*() {
        const session = yield* open()
        const echo = yield* session.invoke("echo", { text: "old" })
        yield* echo.outcome
        yield* session.close()
        return { sessionId: session.id, jobId: echo.jobId }
      }))
      const running = yield* open()
      const job = yield* running.invoke("gated", {})
      const before = inFile(filename)
      const head = yield* log.head

      // the sweep runs every second on the retention's own fiber: wait for the one after the session aged
      let left = yield* readAll(log, {})
      for (let i = 0; i < 100 && left.some((e) => e.session_id === old.sessionId); i++) {
        yield* Effect.sleep("50 millis")
        left = yield* readAll(log, {})
      }
      assert.isFalse(left.some((e) => e.session_id === old.sessionId), "the closed session's events went")
      assert.isTrue(left.some((e) => e.job_id === job.jobId), "the running job's events stay")
      assert.isTrue(Option.isNone(yield* log.getJob(old.jobId)), "the ended job's record went")
      assert.isTrue(Option.isNone(yield* log.getSession(old.sessionId)), "the closed session's record went")
      const after = inFile(filename)
      assert.isBelow(after.events, before.events)
      assert.isBelow(after.jobs, before.jobs)

      // the server carries on: the running job ends, a new echo runs, positions count on
      yield* Deferred.succeed(gate, undefined)
      assert.deepStrictEqual(yield* job.outcome, { done: true })
      const echo = yield* running.invoke("echo", { text: "new" })
      yield* echo.outcome
      const fresh = yield* readAll(log, { job_id: [echo.jobId] })
      assert.isTrue(fresh.length > 0 && fresh.every((e) => e.position > head))
    }).pipe(
      Effect.provide(serverLayer({
        transport: webSocket,
        eventLog: SqliteEventLog.layer({ filename }),
        tools: [gated],
        runtime: { logRetention: "1 second", replayRetention: "1 second" }
      }))
    )
  }))
