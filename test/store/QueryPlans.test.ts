/**
 * The SQLite log's reads and the indexes made for them (migration 0011 keeps the fewest that serve every
 * read): each read's statement, as the log builds it, is searched through the index named here, never a
 * scan of the whole table. SQLite plans without statistics here as in production (the log never runs ANALYZE).
 */
import { SqlClient } from "@effect/sql"
import { SqliteClient } from "@effect/sql-sqlite-node"
import type { Statement } from "@effect/sql/Statement"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import { join } from "node:path"
import type { EventQuery } from "../../src/store/EventLog.js"
import { PRUNE_SQL } from "../../src/store/internal/SqliteWriter.js"
import * as SqlReads from "../../src/store/internal/SqlReads.js"
import * as SqliteEventLog from "../../src/store/SqliteEventLog.js"
import { makeTempDir } from "../support/TempDir.js"

const PlanRow = Schema.Array(Schema.Struct({ detail: Schema.String }))

/** The plan's lines for the `events` / `jobs` tables (the LEFT JOIN's search of `sessions` by key is left out). */
const planOf = (sql: SqlClient.SqlClient, statement: Statement<unknown>) =>
  Effect.gen(function*() {
    const [text, params] = statement.compile()
    const rows = yield* Schema.decodeUnknown(PlanRow)(yield* sql.unsafe(`EXPLAIN QUERY PLAN ${text}`, params))
    return rows.map((r) => r.detail).filter((d) => !/\bs\b|sessions/.test(d))
  })

const reads: ReadonlyArray<readonly [string, EventQuery, string]> = [
  ["a session's events (replay, resume)", { session_id: ["sess_1"], after: 10 }, "events_session"],
  ["a session's control envelopes", { session_id: ["sess_1"], types: ["x"], direction: "out" }, "events_session"],
  ["a job's events (watch, resume, recovery)", { job_id: ["job_1"], direction: "out" }, "events_job_seq"],
  ["a job's checkpoints", { job_id: ["job_1"], types: ["job.checkpoint"], direction: "out" }, "events_job_seq"],
  ["a stream's events", { stream_id: ["str_1"], after: 3 }, "events_stream"],
  ["a trace's events", { trace_id: ["0af7651916cd43dd8448eb211c80319c"] }, "events_trace"],
  ["the answers to a message (retransmit replay)", { correlation_id: ["msg_1"] }, "events_correlation"],
  ["a message by id (since.after_message_id)", { id: ["msg_1"], limit: 1 }, "events_message"]
]

describe("SQLite query plans", () => {
  const plans = makeTempDir("arcp-plans-")
  const file = join(plans.dir, "events.db")
  const layer = Layer.provideMerge(
    Layer.effectDiscard(Effect.scoped(Layer.build(SqliteEventLog.layer({ filename: file })))),
    SqliteClient.layer({ filename: file })
  )

  it.layer(layer)((it) => {
    it.effect("every read of events searches an index, none scans the table", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        for (const [name, query, index] of reads) {
          const statement = SqlReads.readStatement(sql, { skipCopies: true }, query)
          if (statement === undefined) return assert.fail(`${name}: no statement`)
          const plan = yield* planOf(sql, statement)
          assert.deepStrictEqual(plan.length, 1, `${name}: ${plan.join("; ")}`)
          assert.match(plan[0] ?? "", new RegExp(`^SEARCH e USING INDEX ${index} \\(`), name)
        }
      }))

    it.effect("a message's position in its session, a session's last position, unfinished jobs: each by an index", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const position = yield* planOf(sql, SqlReads.positionStatement(sql, "sess_1", "msg_1"))
        assert.match(position.join("; "), /^SEARCH e USING INDEX events_message \(message_id=\?\)/)
        const last = yield* planOf(sql, SqlReads.lastPositionStatement(sql, "sess_1"))
        assert.match(last.join("; "), /^SEARCH events USING COVERING INDEX events_session \(session_id=\?\)$/)
        const unfinished = yield* planOf(sql, SqlReads.unfinishedJobsStatement(sql))
        assert.match(unfinished.join("; "), /^SCAN jobs USING INDEX jobs_unfinished$/)
      }))

    it.effect("the retention pass searches by a key or an index; it scans only claims, leases and the unfinished jobs", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        for (const [name, text] of Object.entries(PRUNE_SQL)) {
          const params = Array.from(text.matchAll(/\?/g), () => 1)
          const rows = yield* Schema.decodeUnknown(PlanRow)(yield* sql.unsafe(`EXPLAIN QUERY PLAN ${text}`, params))
          const scans = rows.map((r) => r.detail).filter((d) =>
            /^SCAN /.test(d) && !/^SCAN (idempotency|leases)\b|^SCAN jobs USING INDEX jobs_unfinished$/.test(d)
          )
          assert.deepStrictEqual(scans, [], name)
        }
      }))
  })

  afterAll(plans.remove)
})
