/**
 * The event log on SQLite (the default backend): embedded migrations, WAL,
 * and group commit — every write goes through one writer fiber that commits
 * whatever is waiting in one transaction, so order and durability hold while
 * commits are amortized across sessions. Migrations and reads use @effect/sql;
 * the writes use their own connection with prepared statements (internal/SqliteWriter).
 */
import { SqlClient } from "@effect/sql"
import { SqliteClient } from "@effect/sql-sqlite-node"
import * as Migrator from "@effect/sql/Migrator"
import { Effect, Layer } from "effect"
import { EventLog, EventLogError } from "./EventLog.js"
import * as GroupCommit from "./internal/GroupCommit.js"
import * as SqliteMigrations from "./internal/SqliteMigrations.js"
import * as SqliteWriter from "./internal/SqliteWriter.js"
import * as SqlReads from "./internal/SqlReads.js"
import type { ScheduleStore } from "./ScheduleStore.js"
import * as SqliteScheduleStore from "./SqliteScheduleStore.js"

export interface Options {
  readonly filename: string
  /**
   * `NORMAL` (default, WAL): a commit survives the process being killed; the last commits before a power
   * loss or an OS crash may be lost. `FULL`: every group commit waits for an fsync, surviving those too.
   * Either way an envelope is committed before it is written to the client.
   */
  readonly synchronous?: "FULL" | "NORMAL" | undefined
}

/** Up to this many events, migration 0011 copies the table to drop its AUTOINCREMENT (100k: ~0.8 s measured). */
const REBUILD_LIMIT = 100_000

/**
 * Fewer pages written per commit (docs/benchmarks.md, "The event log's indexes"): a message's position in
 * its session is found through events_message (ids are unique but for two principals' clients choosing one),
 * rows with no correlation id (most of a job's) leave events_correlation, a restart's unfinished jobs are found
 * without reading every job. A log of up to REBUILD_LIMIT events is copied into a table without AUTOINCREMENT,
 * whose counter row was one more page per commit: rows are never deleted, so the next position is still the
 * largest one plus one. A larger log keeps its AUTOINCREMENT rather than a long copy at start-up; it behaves
 * the same.
 */
const leanerIndexes = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`DROP INDEX IF EXISTS events_session_message`
  yield* sql`DROP INDEX IF EXISTS events_correlation`
  yield* sql`CREATE INDEX jobs_unfinished ON jobs (created_at, job_id) WHERE terminal IS NULL`
  const [last] = yield* sql<{ readonly n: number }>`SELECT COALESCE(MAX(seq), 0) AS n FROM events`
  if ((last?.n ?? 0) <= REBUILD_LIMIT) {
    const columns = sql.literal(
      "seq, direction, session_id, message_id, type, job_id, stream_id, trace_id, correlation_id, timestamp, body, copy"
    )
    yield* sql`CREATE TABLE events_copy (seq INTEGER PRIMARY KEY, direction TEXT NOT NULL, session_id TEXT NOT NULL,
      message_id TEXT NOT NULL, type TEXT NOT NULL, job_id TEXT, stream_id TEXT, trace_id TEXT, correlation_id TEXT,
      timestamp TEXT NOT NULL, body TEXT NOT NULL, copy INTEGER NOT NULL DEFAULT 0)`
    yield* sql`INSERT INTO events_copy (${columns}) SELECT ${columns} FROM events ORDER BY seq`
    yield* sql`DROP TABLE events`
    yield* sql`ALTER TABLE events_copy RENAME TO events`
    yield* sql`DELETE FROM sqlite_sequence WHERE name = 'events'`
    yield* sql`CREATE INDEX events_session ON events (session_id, seq)`
    yield* sql`CREATE INDEX events_message ON events (message_id)`
    yield* sql`CREATE INDEX events_job_seq ON events (job_id, seq) WHERE job_id IS NOT NULL`
    yield* sql`CREATE INDEX events_stream ON events (stream_id, seq) WHERE stream_id IS NOT NULL`
    yield* sql`CREATE INDEX events_trace ON events (trace_id, seq) WHERE trace_id IS NOT NULL`
  }
  yield* sql`CREATE INDEX events_correlation ON events (correlation_id) WHERE correlation_id IS NOT NULL`
})

const migrations = Migrator.fromRecord({
  "0001_event_log": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`CREATE TABLE events (
      seq INTEGER PRIMARY KEY AUTOINCREMENT, direction TEXT NOT NULL, session_id TEXT NOT NULL,
      message_id TEXT NOT NULL, type TEXT NOT NULL, job_id TEXT, stream_id TEXT, trace_id TEXT,
      correlation_id TEXT, timestamp TEXT NOT NULL, body TEXT NOT NULL)`
    yield* sql`CREATE INDEX events_session ON events (session_id, seq)`
    yield* sql`CREATE INDEX events_correlation ON events (correlation_id)`
    yield* sql`CREATE INDEX events_job ON events (job_id)`
    yield* sql`CREATE TABLE inbound (principal TEXT NOT NULL, message_id TEXT NOT NULL, PRIMARY KEY (principal, message_id)) WITHOUT ROWID`
    yield* sql`CREATE TABLE idempotency (principal TEXT NOT NULL, key TEXT NOT NULL, job_id TEXT NOT NULL,
      expires_at INTEGER NOT NULL, PRIMARY KEY (principal, key)) WITHOUT ROWID`
    yield* sql`CREATE TABLE jobs (job_id TEXT PRIMARY KEY, session_id TEXT NOT NULL, principal TEXT NOT NULL,
      tool TEXT NOT NULL, command_id TEXT NOT NULL, state TEXT NOT NULL, checkpoint_id TEXT, retry_count INTEGER NOT NULL,
      cancel_reason TEXT, idempotency_key TEXT, terminal TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL)`
  }),
  // what each idempotency key's command asked for, so a reuse for another command is refused (docs/decisions.md)
  "0002_idempotency_digest": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`ALTER TABLE idempotency ADD COLUMN digest TEXT`
  }),
  // permission leases (§15.5), so they outlive a connection and a restart
  "0003_leases": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`CREATE TABLE leases (lease_id TEXT PRIMARY KEY, principal TEXT NOT NULL, session_id TEXT NOT NULL,
      job_id TEXT, permission TEXT NOT NULL, resource TEXT NOT NULL, operation TEXT NOT NULL, granted_by TEXT,
      expires_at INTEGER NOT NULL, revoked TEXT, created_at INTEGER NOT NULL)`
    yield* sql`CREATE INDEX leases_live ON leases (expires_at) WHERE revoked IS NULL`
  }),
  // whose each session is: reads of events are confined to the asking principal's sessions
  "0004_session_owners": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`CREATE TABLE sessions (session_id TEXT PRIMARY KEY, principal TEXT NOT NULL) WITHOUT ROWID`
    // older logs: the sessions that started jobs are known; others stay nobody's (their events are not replayed)
    yield* sql`INSERT OR IGNORE INTO sessions (session_id, principal) SELECT session_id, principal FROM jobs`
  }),
  "0005_schedules": SqliteScheduleStore.migration,
  // the one paged read (EventLog.read): indexes for its filters; an envelope stored once per id (older
  // logs held a re-addressed copy per extra session it went to: marked, and skipped by reads)
  "0006_event_reads": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`ALTER TABLE events ADD COLUMN copy INTEGER NOT NULL DEFAULT 0`
    yield* sql`UPDATE events SET copy = 1 WHERE direction = 'out' AND seq NOT IN
      (SELECT MIN(seq) FROM events WHERE direction = 'out' GROUP BY message_id)`
    yield* sql`DROP INDEX IF EXISTS events_job`
    yield* sql`CREATE INDEX events_job_seq ON events (job_id, seq) WHERE job_id IS NOT NULL`
    yield* sql`CREATE INDEX events_stream ON events (stream_id, seq) WHERE stream_id IS NOT NULL`
    yield* sql`CREATE INDEX events_trace ON events (trace_id, seq) WHERE trace_id IS NOT NULL`
  }),
  // durable sessions (§9, §19), runtime instances and the jobs they own (§4.3)
  "0007_durable_sessions": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`CREATE TABLE durable_sessions (session_id TEXT PRIMARY KEY, principal TEXT NOT NULL,
      capabilities TEXT NOT NULL, lease_expires_at INTEGER NOT NULL, last_position INTEGER NOT NULL,
      state TEXT NOT NULL, resume_until INTEGER, instance_id TEXT NOT NULL, trust_level TEXT, created_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL) WITHOUT ROWID`
    yield* sql`CREATE TABLE runtime_instances (instance_id TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL,
      started_at INTEGER NOT NULL, heartbeat_at INTEGER NOT NULL, stopped_at INTEGER) WITHOUT ROWID`
    yield* sql`ALTER TABLE jobs ADD COLUMN instance_id TEXT`
    yield* sql`ALTER TABLE jobs ADD COLUMN arguments TEXT`
    yield* sql`CREATE INDEX events_session_message ON events (session_id, message_id)`
  }),
  // a subscription's since.after_message_id (§13.3) is found by its message id
  "0008_events_by_message_id": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`CREATE INDEX events_message ON events (message_id)`
  }),
  // runtime instances' liveness leases, and finding the sessions a gone instance held (issue 17)
  "0010_instance_leases": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`ALTER TABLE runtime_instances ADD COLUMN lease_until INTEGER`
    yield* sql`CREATE INDEX durable_sessions_instance ON durable_sessions (instance_id) WHERE state = 'attached'`
  }),
  "0011_leaner_indexes": leanerIndexes
})

const failure = (reason: "Write" | "Read" | "Open") => (cause: unknown) =>
  new EventLogError({ reason, message: cause instanceof Error ? cause.message : String(cause), cause })

export const make = Effect.fnUntraced(function*(options: Options) {
  const sql = yield* SqlClient.SqlClient
  const writer = yield* Effect.acquireRelease(
    Effect.try({
      try: () => SqliteWriter.open(options.filename, options.synchronous ?? "NORMAL"),
      catch: failure("Open")
    }),
    (w) => Effect.sync(() => w.close())
  )
  const writes = yield* GroupCommit.make(
    (group) => Effect.try({ try: () => writer.commit(group), catch: failure("Write") }),
    "SQLite",
    // better-sqlite3 commits synchronously: a lone write needs no hop to the writer fiber; its one writer
    // tells a message id's verdict by a read, so an inbound write rides in the commit of its answers
    { inline: true, seen: writer.seen, failure: failure("Read") }
  )
  return EventLog.of({ ...writes, ...SqlReads.make(sql, { skipCopies: true }) })
})

/**
 * The SQLite event log on `filename` (created and migrated as needed), with the schedule store
 * in the same file. A file is needed: `:memory:` is refused (use MemoryEventLog).
 */
export const layer = (options: Options): Layer.Layer<EventLog | ScheduleStore, EventLogError> =>
  options.filename === ":memory:" || options.filename === ""
    ? Layer.fail(
      new EventLogError({
        reason: "Open",
        message: "the SQLite event log needs a file; use MemoryEventLog for an in-memory log"
      })
    )
    : Layer.merge(Layer.scoped(EventLog, make(options)), SqliteScheduleStore.layer).pipe(
      Layer.provide(SqliteMigrations.layer({ loader: migrations, table: "effect_sql_migrations" })),
      Layer.provide(SqliteClient.layer({ filename: options.filename })),
      Layer.mapError((cause) =>
        new EventLogError({
          reason: "Open",
          message: `cannot open the event log ${options.filename}: ${cause.message}`,
          cause
        })
      )
    )
