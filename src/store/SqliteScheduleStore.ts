/**
 * The schedule store on SQLite: a `schedules` table in the event log's file
 * (migration 0005 of SqliteEventLog), indexed by (state, next_fire_at) so the
 * next firing is one index probe. Writes are rare (a schedule, a firing, a
 * cancel): they go through @effect/sql, not the event log's group commit.
 */
import { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { Effect, Layer, Option, Schema } from "effect"
import { TrustLevel } from "../protocol/messages/Common.js"
import { type ScheduleRecord, ScheduleStore, ScheduleStoreError } from "./ScheduleStore.js"

/** The migration that creates the table (run by SqliteEventLog's migrator). */
export const migration = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE schedules (schedule_id TEXT PRIMARY KEY, principal TEXT NOT NULL, session_id TEXT NOT NULL,
    command_id TEXT NOT NULL, job TEXT NOT NULL, "when" TEXT NOT NULL, missed TEXT NOT NULL, state TEXT NOT NULL,
    next_fire_at INTEGER, fire_count INTEGER NOT NULL, last_job_id TEXT, trace_id TEXT,
    trust_level TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL)`
  yield* sql`CREATE INDEX schedules_due ON schedules (state, next_fire_at)`
  yield* sql`CREATE INDEX schedules_principal ON schedules (principal, state)`
})

const Nullable = Schema.NullOr(Schema.String)
const Row = Schema.Struct({
  schedule_id: Schema.String,
  principal: Schema.String,
  session_id: Schema.String,
  command_id: Schema.String,
  job: Schema.String,
  when: Schema.String,
  missed: Schema.Literal("run_once", "skip"),
  state: Schema.Literal("active", "done", "cancelled"),
  next_fire_at: Schema.NullOr(Schema.Number),
  fire_count: Schema.Number,
  last_job_id: Nullable,
  trace_id: Nullable,
  trust_level: Schema.NullOr(TrustLevel),
  created_at: Schema.Number,
  updated_at: Schema.Number
})

/** Null columns become absent fields, as the records were written. */
const toRecord = ({ last_job_id, next_fire_at, trace_id, trust_level, ...rest }: typeof Row.Type): ScheduleRecord => ({
  ...rest,
  ...(trust_level !== null ? { trust_level } : {}),
  ...(next_fire_at !== null ? { next_fire_at } : {}),
  ...(last_job_id !== null ? { last_job_id } : {}),
  ...(trace_id !== null ? { trace_id } : {})
})

export const failure = (reason: "Write" | "Read") => (cause: unknown) =>
  new ScheduleStoreError({ reason, message: cause instanceof Error ? cause.message : String(cause), cause })

/** The queries of the store but `save`, in SQL both backends run as it is. */
export const reads = (sql: SqlClient.SqlClient): Omit<ScheduleStore["Type"], "save"> => {
  const read = (query: Effect.Effect<ReadonlyArray<unknown>, SqlError>) =>
    query.pipe(
      Effect.flatMap(Schema.decodeUnknown(Schema.Array(Row))),
      Effect.map((rows) => rows.map(toRecord)),
      Effect.mapError(failure("Read"))
    )
  return {
    get: (id) =>
      Effect.map(read(sql`SELECT * FROM schedules WHERE schedule_id = ${id}`), (rows) => Option.fromNullable(rows[0])),
    listActive: (principal) =>
      read(
        sql`SELECT * FROM schedules WHERE principal = ${principal} AND state = 'active'
          ORDER BY next_fire_at, schedule_id`
      ),
    countActive: (principal) =>
      sql`SELECT COUNT(*) AS n FROM schedules WHERE principal = ${principal} AND state = 'active'`.pipe(
        Effect.flatMap(Schema.decodeUnknown(Schema.Tuple(Schema.Struct({ n: Schema.Number })))),
        Effect.map(([row]) => row.n),
        Effect.mapError(failure("Read"))
      ),
    active: read(sql`SELECT * FROM schedules WHERE state = 'active' ORDER BY next_fire_at, schedule_id`),
    earliest: Effect.map(
      read(sql`SELECT * FROM schedules WHERE state = 'active' ORDER BY next_fire_at, schedule_id LIMIT 1`),
      (rows) => Option.fromNullable(rows[0])
    )
  }
}

export const make = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  // the event log writes to this file from its own connection: wait for its lock rather than fail
  yield* sql`PRAGMA busy_timeout = 5000`.pipe(Effect.orDie)
  return ScheduleStore.of({
    ...reads(sql),
    save: (r) =>
      sql`INSERT OR REPLACE INTO schedules (schedule_id, principal, session_id, command_id, job, "when", missed, state,
        next_fire_at, fire_count, last_job_id, trace_id, trust_level, created_at, updated_at)
        VALUES (${r.schedule_id}, ${r.principal}, ${r.session_id}, ${r.command_id}, ${r.job}, ${r.when}, ${r.missed},
        ${r.state}, ${r.next_fire_at ?? null}, ${r.fire_count}, ${r.last_job_id ?? null}, ${r.trace_id ?? null},
        ${r.trust_level ?? null}, ${r.created_at}, ${r.updated_at})`.pipe(
        Effect.asVoid,
        Effect.mapError(failure("Write"))
      )
  })
})

/** The store on the SqlClient of the event log's file (provided by `SqliteEventLog.layer`). */
export const layer: Layer.Layer<ScheduleStore, never, SqlClient.SqlClient> = Layer.effect(ScheduleStore, make)
