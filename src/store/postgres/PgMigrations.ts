/**
 * The PostgreSQL schema: its own migration series (pg/0001...), independent of SQLite's numbering.
 * One series for everything the store keeps (event log, records, schedules, artifact metadata), run
 * once by `PostgresStore.layer` under the migrator's table lock, so several runtimes starting together
 * migrate once. Epoch-millisecond times and positions are BIGINT (read back as numbers).
 */
import { SqlClient } from "@effect/sql"
import * as Migrator from "@effect/sql/Migrator"
import { Effect } from "effect"

export const migrations = Migrator.fromRecord({
  "0001_store": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    // positions come from this one row, taken under its row lock until commit (docs/decisions.md)
    yield* sql`CREATE TABLE arcp_sequencer (id INTEGER PRIMARY KEY CHECK (id = 1), last BIGINT NOT NULL)`
    yield* sql`INSERT INTO arcp_sequencer (id, last) VALUES (1, 0)`
    yield* sql`CREATE TABLE events (seq BIGINT PRIMARY KEY, direction TEXT NOT NULL, session_id TEXT NOT NULL,
      message_id TEXT NOT NULL, type TEXT NOT NULL, job_id TEXT, stream_id TEXT, trace_id TEXT, correlation_id TEXT,
      timestamp TEXT NOT NULL, body TEXT NOT NULL)`
    yield* sql`CREATE INDEX events_session ON events (session_id, seq)`
    yield* sql`CREATE INDEX events_session_message ON events (session_id, message_id)`
    yield* sql`CREATE INDEX events_message ON events (message_id)`
    yield* sql`CREATE INDEX events_correlation ON events (correlation_id, seq) WHERE correlation_id IS NOT NULL`
    yield* sql`CREATE INDEX events_job ON events (job_id, seq) WHERE job_id IS NOT NULL`
    yield* sql`CREATE INDEX events_stream ON events (stream_id, seq) WHERE stream_id IS NOT NULL`
    yield* sql`CREATE INDEX events_trace ON events (trace_id, seq) WHERE trace_id IS NOT NULL`
    yield* sql`CREATE TABLE inbound (principal TEXT NOT NULL, message_id TEXT NOT NULL, PRIMARY KEY (principal, message_id))`
    yield* sql`CREATE TABLE sessions (session_id TEXT PRIMARY KEY, principal TEXT NOT NULL)`
    yield* sql`CREATE TABLE idempotency (principal TEXT NOT NULL, key TEXT NOT NULL, job_id TEXT NOT NULL, digest TEXT,
      expires_at BIGINT NOT NULL, PRIMARY KEY (principal, key))`
    yield* sql`CREATE TABLE jobs (job_id TEXT PRIMARY KEY, session_id TEXT NOT NULL, principal TEXT NOT NULL,
      tool TEXT NOT NULL, command_id TEXT NOT NULL, state TEXT NOT NULL, checkpoint_id TEXT, retry_count INTEGER NOT NULL,
      cancel_reason TEXT, idempotency_key TEXT, terminal TEXT, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL,
      instance_id TEXT, arguments TEXT)`
    yield* sql`CREATE INDEX jobs_unfinished ON jobs (created_at, job_id) WHERE terminal IS NULL`
    yield* sql`CREATE TABLE leases (lease_id TEXT PRIMARY KEY, principal TEXT NOT NULL, session_id TEXT NOT NULL,
      job_id TEXT, permission TEXT NOT NULL, resource TEXT NOT NULL, operation TEXT NOT NULL, granted_by TEXT,
      expires_at BIGINT NOT NULL, revoked TEXT, created_at BIGINT NOT NULL)`
    yield* sql`CREATE INDEX leases_live ON leases (expires_at) WHERE revoked IS NULL`
    yield* sql`CREATE TABLE durable_sessions (session_id TEXT PRIMARY KEY, principal TEXT NOT NULL,
      capabilities TEXT NOT NULL, lease_expires_at BIGINT NOT NULL, last_position BIGINT NOT NULL, state TEXT NOT NULL,
      resume_until BIGINT, instance_id TEXT NOT NULL, trust_level TEXT, created_at BIGINT NOT NULL,
      updated_at BIGINT NOT NULL)`
    yield* sql`CREATE TABLE runtime_instances (instance_id TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL,
      started_at BIGINT NOT NULL, heartbeat_at BIGINT NOT NULL, stopped_at BIGINT)`
    yield* sql`CREATE TABLE schedules (schedule_id TEXT PRIMARY KEY, principal TEXT NOT NULL, session_id TEXT NOT NULL,
      command_id TEXT NOT NULL, job TEXT NOT NULL, "when" TEXT NOT NULL, missed TEXT NOT NULL, state TEXT NOT NULL,
      next_fire_at BIGINT, fire_count INTEGER NOT NULL, last_job_id TEXT, trace_id TEXT, trust_level TEXT,
      created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL)`
    yield* sql`CREATE INDEX schedules_due ON schedules (state, next_fire_at)`
    yield* sql`CREATE INDEX schedules_principal ON schedules (principal, state)`
    yield* sql`CREATE TABLE artifacts (artifact_id TEXT PRIMARY KEY, principal TEXT NOT NULL, session_id TEXT NOT NULL,
      media_type TEXT NOT NULL, size BIGINT NOT NULL, sha256 TEXT NOT NULL, created_at BIGINT NOT NULL,
      expires_at BIGINT NOT NULL)`
    yield* sql`CREATE INDEX artifacts_expiry ON artifacts (expires_at)`
    yield* sql`CREATE INDEX artifacts_principal ON artifacts (principal)`
    yield* sql`CREATE INDEX artifacts_sha256 ON artifacts (sha256)`
  }),
  // runtime instances' liveness leases, and finding the sessions a gone instance held (issue 17)
  "0002_instance_leases": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`ALTER TABLE runtime_instances ADD COLUMN lease_until BIGINT`
    yield* sql`CREATE INDEX durable_sessions_instance ON durable_sessions (instance_id) WHERE state = 'attached'`
  }),
  // one index fewer to write per event (SQLite's 0011): a message's position in its session is found by its id
  "0003_leaner_indexes": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`DROP INDEX IF EXISTS events_session_message`
  })
})
