/**
 * The schedule store on PostgreSQL: the `schedules` table of the store's migrations (PgMigrations),
 * the same queries as SQLite's but an upsert for a save. Writes are rare: straight on the pool.
 */
import { SqlClient } from "@effect/sql"
import { Effect, Layer } from "effect"
import { ScheduleStore } from "../ScheduleStore.js"
import * as SqliteScheduleStore from "../SqliteScheduleStore.js"

export const make = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const reads = SqliteScheduleStore.reads(sql)
  return ScheduleStore.of({
    ...reads,
    save: (r) =>
      sql`INSERT INTO schedules (schedule_id, principal, session_id, command_id, job, "when", missed, state,
        next_fire_at, fire_count, last_job_id, trace_id, trust_level, created_at, updated_at)
        VALUES (${r.schedule_id}, ${r.principal}, ${r.session_id}, ${r.command_id}, ${r.job}, ${r.when}, ${r.missed},
        ${r.state}, ${r.next_fire_at ?? null}, ${r.fire_count}, ${r.last_job_id ?? null}, ${r.trace_id ?? null},
        ${r.trust_level ?? null}, ${r.created_at}, ${r.updated_at})
        ON CONFLICT (schedule_id) DO UPDATE SET principal = EXCLUDED.principal, session_id = EXCLUDED.session_id,
          command_id = EXCLUDED.command_id, job = EXCLUDED.job, "when" = EXCLUDED."when", missed = EXCLUDED.missed,
          state = EXCLUDED.state, next_fire_at = EXCLUDED.next_fire_at, fire_count = EXCLUDED.fire_count,
          last_job_id = EXCLUDED.last_job_id, trace_id = EXCLUDED.trace_id, trust_level = EXCLUDED.trust_level,
          created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at`.pipe(
        Effect.asVoid,
        Effect.mapError(SqliteScheduleStore.failure("Write"))
      )
  })
})

export const layer: Layer.Layer<ScheduleStore, never, SqlClient.SqlClient> = Layer.effect(ScheduleStore, make)
