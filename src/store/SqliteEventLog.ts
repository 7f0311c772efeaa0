/**
 * The event log on SQLite (the default backend): embedded migrations, WAL,
 * and group commit — every write goes through one writer fiber that commits
 * whatever is waiting in one transaction, so order and durability hold while
 * commits are amortized across sessions. Migrations and reads use @effect/sql;
 * the writes use their own connection with prepared statements (internal/SqliteWriter).
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { SqlClient } from "@effect/sql"
import { SqliteClient, SqliteMigrator } from "@effect/sql-sqlite-node"
import * as Migrator from "@effect/sql/Migrator"
import type { SqlError } from "@effect/sql/SqlError"
import { Chunk, Deferred, Effect, Either, Layer, Option, Queue, Schema } from "effect"
import {
  type Claim,
  EventLog,
  EventLogError,
  type Inbound,
  type InstanceRecord,
  type JobRecord,
  type LeaseRecord,
  pageSize,
  type SessionRecord,
  type StoredEvent
} from "./EventLog.js"
import * as SqliteWriter from "./internal/SqliteWriter.js"
import type { Write, WriteResult } from "./internal/SqliteWriter.js"
import type { ScheduleStore } from "./ScheduleStore.js"
import * as SqliteScheduleStore from "./SqliteScheduleStore.js"

// the writer returns one result per write; these read the two kinds that carry one
const isVerdicts = (r: WriteResult): r is ReadonlyArray<Inbound> =>
  Array.isArray(r) && r.every((v) => typeof v === "object")
const isPositions = (r: WriteResult): r is ReadonlyArray<number> =>
  Array.isArray(r) && r.every((v) => typeof v === "number")
const isClaim = (r: WriteResult): r is Claim => typeof r === "object" && !Array.isArray(r)

export interface Options {
  readonly filename: string
  /**
   * `NORMAL` (default, WAL): a commit survives the process being killed; the last commits before a power
   * loss or an OS crash may be lost. `FULL`: every group commit waits for an fsync, surviving those too.
   * Either way an envelope is committed before it is written to the client.
   */
  readonly synchronous?: "FULL" | "NORMAL" | undefined
}

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
  })
})

const Nullable = Schema.NullOr(Schema.String)
const EventRow = Schema.Struct({
  seq: Schema.Number,
  direction: Schema.Literal("in", "out"),
  session_id: Schema.String,
  message_id: Schema.String,
  type: Schema.String,
  job_id: Nullable,
  stream_id: Nullable,
  trace_id: Nullable,
  correlation_id: Nullable,
  timestamp: Schema.String,
  body: Schema.String,
  principal: Nullable
})
const JobRow = Schema.Struct({
  job_id: Schema.String,
  session_id: Schema.String,
  principal: Schema.String,
  tool: Schema.String,
  command_id: Schema.String,
  state: Schema.String,
  checkpoint_id: Nullable,
  retry_count: Schema.Number,
  cancel_reason: Nullable,
  idempotency_key: Nullable,
  terminal: Nullable,
  created_at: Schema.Number,
  updated_at: Schema.Number,
  instance_id: Nullable,
  arguments: Nullable
})

const SessionRow = Schema.Struct({
  session_id: Schema.String,
  principal: Schema.String,
  capabilities: Schema.String,
  lease_expires_at: Schema.Number,
  last_position: Schema.Number,
  state: Schema.Literal("attached", "detached", "closed"),
  resume_until: Schema.NullOr(Schema.Number),
  instance_id: Schema.String,
  trust_level: Nullable,
  created_at: Schema.Number,
  updated_at: Schema.Number
})

const InstanceRow = Schema.Struct({
  instance_id: Schema.String,
  host: Schema.String,
  pid: Schema.Number,
  started_at: Schema.Number,
  heartbeat_at: Schema.Number,
  stopped_at: Schema.NullOr(Schema.Number),
  lease_until: Schema.NullOr(Schema.Number)
})

const LeaseRow = Schema.Struct({
  lease_id: Schema.String,
  principal: Schema.String,
  session_id: Schema.String,
  job_id: Nullable,
  permission: Schema.String,
  resource: Schema.String,
  operation: Schema.String,
  granted_by: Nullable,
  expires_at: Schema.Number,
  revoked: Nullable,
  created_at: Schema.Number
})

/** Nullable columns become absent fields, as the leases were written. */
const toLease = ({ granted_by, job_id, revoked, ...rest }: typeof LeaseRow.Type): LeaseRecord => ({
  ...rest,
  ...(job_id !== null ? { job_id } : {}),
  ...(granted_by !== null ? { granted_by } : {}),
  ...(revoked !== null ? { revoked } : {})
})

const orUndefined = (v: string | null): string | undefined => v ?? undefined

const toStored = (r: typeof EventRow.Type): StoredEvent => ({
  position: r.seq,
  principal: orUndefined(r.principal),
  direction: r.direction,
  session_id: r.session_id,
  id: r.message_id,
  type: r.type,
  job_id: orUndefined(r.job_id),
  stream_id: orUndefined(r.stream_id),
  trace_id: orUndefined(r.trace_id),
  correlation_id: orUndefined(r.correlation_id),
  timestamp: r.timestamp,
  json: r.body
})

/** Nullable columns become absent fields (not `undefined` ones), as the records were written. */
const toJob = (
  { arguments: args, cancel_reason, checkpoint_id, idempotency_key, instance_id, terminal, ...rest }: typeof JobRow.Type
): JobRecord => ({
  ...rest,
  ...(instance_id !== null ? { instance_id } : {}),
  ...(args !== null ? { arguments: args } : {}),
  ...(checkpoint_id !== null ? { checkpoint_id } : {}),
  ...(cancel_reason !== null ? { cancel_reason } : {}),
  ...(idempotency_key !== null ? { idempotency_key } : {}),
  ...(terminal !== null ? { terminal } : {})
})

const toSession = ({ resume_until, trust_level, ...rest }: typeof SessionRow.Type): SessionRecord => ({
  ...rest,
  ...(trust_level !== null ? { trust_level } : {}),
  ...(resume_until !== null ? { resume_until } : {})
})

const toInstance = ({ lease_until, stopped_at, ...rest }: typeof InstanceRow.Type): InstanceRecord => ({
  ...rest,
  ...(stopped_at !== null ? { stopped_at } : {}),
  ...(lease_until !== null ? { lease_until } : {})
})

/** A write waiting for the group commit, and what to do with its outcome. */
interface Pending {
  readonly write: Write
  readonly settle: (outcome: Either.Either<WriteResult, EventLogError>) => Effect.Effect<unknown>
}

/** Most writes one transaction takes. */
const BATCH = 1000

const failure = (reason: "Write" | "Read" | "Open") => (cause: unknown) =>
  new EventLogError({ reason, message: cause instanceof Error ? cause.message : String(cause), cause })

export const make = (options: Options) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const writer = yield* Effect.acquireRelease(
      Effect.try({
        try: () => SqliteWriter.open(options.filename, options.synchronous ?? "NORMAL"),
        catch: failure("Open")
      }),
      (w) => Effect.sync(() => w.close())
    )
    const queue = yield* Queue.unbounded<Pending>()

    // the writer: one transaction per batch of whatever is waiting (group commit), then the callers are completed
    yield* Effect.gen(function*() {
      while (true) {
        const batch = yield* Queue.takeBetween(queue, 1, BATCH)
        const writes = Chunk.toReadonlyArray(Chunk.map(batch, (p) => p.write))
        const committed = yield* Effect.either(
          Effect.try({ try: () => writer.commit(writes), catch: failure("Write") })
        )
        let i = 0
        for (const pending of batch) {
          yield* pending.settle(Either.map(committed, (results) => results[i]))
          i++
        }
      }
    }).pipe(Effect.forkScoped)

    /**
     * Queues `write` for the next group commit and waits for its result, read by `pick`. The writer
     * returns the result kind of each write, so a `None` from `pick` is a defect, not a default.
     */
    const submit = <A>(write: Write, pick: (result: WriteResult) => Option.Option<A>) =>
      Effect.flatMap(Deferred.make<A, EventLogError>(), (done) =>
        Effect.zipRight(
          Queue.offer(queue, {
            write,
            settle: (outcome) =>
              Deferred.complete(
                done,
                Either.isLeft(outcome) ? Effect.fail(outcome.left) : Option.match(pick(outcome.right), {
                  onNone: () => Effect.dieMessage(`the SQLite writer returned no result for a ${write._tag} write`),
                  onSome: Effect.succeed
                })
              )
          }),
          Deferred.await(done)
        ))
    const none = () => Option.some(undefined)

    const jobs = <A>(
      query: Effect.Effect<ReadonlyArray<unknown>, SqlError>,
      read: (rows: ReadonlyArray<JobRecord>) => A
    ) =>
      query.pipe(
        Effect.flatMap(Schema.decodeUnknown(Schema.Array(JobRow))),
        Effect.map((rows) => read(rows.map(toJob))),
        Effect.mapError(failure("Read"))
      )

    const events = (query: Effect.Effect<ReadonlyArray<unknown>, SqlError>) =>
      query.pipe(
        Effect.flatMap(Schema.decodeUnknown(Schema.Array(EventRow))),
        Effect.map((rows) => rows.map(toStored)),
        Effect.mapError(failure("Read"))
      )

    const leases = <A>(
      query: Effect.Effect<ReadonlyArray<unknown>, SqlError>,
      read: (rows: ReadonlyArray<LeaseRecord>) => A
    ) =>
      query.pipe(
        Effect.flatMap(Schema.decodeUnknown(Schema.Array(LeaseRow))),
        Effect.map((rows) => read(rows.map(toLease))),
        Effect.mapError(failure("Read"))
      )

    return EventLog.of({
      recordInbound: (principal, envelopes) =>
        envelopes.length === 0
          ? Effect.succeed([])
          : submit({ _tag: "Inbound", principal, envelopes }, (r) => (isVerdicts(r) ? Option.some(r) : Option.none())),
      recordOutbound: (envelopes) =>
        envelopes.length === 0
          ? Effect.succeed([])
          : submit({ _tag: "Outbound", envelopes }, (r) => (isPositions(r) ? Option.some(r) : Option.none())),
      read: (query) => {
        const lists = [
          ["e.message_id", query.id],
          ["e.session_id", query.session_id],
          ["e.job_id", query.job_id],
          ["e.stream_id", query.stream_id],
          ["e.trace_id", query.trace_id],
          ["e.correlation_id", query.correlation_id],
          ["e.type", query.types]
        ] as const
        // an empty list allows nothing
        if (lists.some(([, values]) => values !== undefined && values.length === 0)) return Effect.succeed([])
        const clauses = [
          sql`e.seq > ${Math.max(0, query.after ?? 0)}`,
          sql`e.copy = 0`,
          ...(query.direction !== undefined ? [sql`e.direction = ${query.direction}`] : []),
          ...lists.flatMap(([column, values]) => (values === undefined ? [] : [sql.in(column, values)]))
        ]
        return events(sql`SELECT e.*, s.principal AS principal FROM events e
          LEFT JOIN sessions s ON s.session_id = e.session_id
          WHERE ${sql.and(clauses)} ORDER BY e.seq LIMIT ${pageSize(query)}`)
      },
      head: sql`SELECT COALESCE(MAX(seq), 0) AS head FROM events`.pipe(
        Effect.flatMap(Schema.decodeUnknown(Schema.Tuple(Schema.Struct({ head: Schema.Number })))),
        Effect.map(([row]) => row.head),
        Effect.mapError(failure("Read"))
      ),
      claimIdempotencyKey: (claim) =>
        submit({ _tag: "Claim", ...claim }, (r) => (isClaim(r) ? Option.some(r) : Option.none())),
      saveJob: (job) => submit({ _tag: "SaveJob", job }, none),
      stageJob: (job) =>
        Queue.offer(queue, {
          write: { _tag: "SaveJob", job },
          // nobody waits on a staged write: a failure is logged
          settle: (outcome) =>
            Either.isLeft(outcome) ? Effect.logError(`cannot record job ${job.job_id}`, outcome.left) : Effect.void
        }).pipe(Effect.asVoid),
      getJob: (jobId) => jobs(sql`SELECT * FROM jobs WHERE job_id = ${jobId}`, (rows) => Option.fromNullable(rows[0])),
      unfinishedJobs: jobs(sql`SELECT * FROM jobs WHERE terminal IS NULL ORDER BY created_at, job_id`, (rows) => rows),
      saveLease: (lease) => submit({ _tag: "SaveLease", lease }, none),
      getLease: (leaseId) =>
        leases(sql`SELECT * FROM leases WHERE lease_id = ${leaseId}`, (rows) => Option.fromNullable(rows[0])),
      liveLeases: (now) =>
        leases(
          sql`SELECT * FROM leases WHERE revoked IS NULL AND expires_at > ${now} ORDER BY created_at, lease_id`,
          (rows) => rows
        ),
      saveSession: (session) => submit({ _tag: "SaveSession", session }, none),
      getSession: (sessionId) =>
        sql`SELECT * FROM durable_sessions WHERE session_id = ${sessionId}`.pipe(
          Effect.flatMap(Schema.decodeUnknown(Schema.Array(SessionRow))),
          Effect.map((rows) => Option.map(Option.fromNullable(rows[0]), toSession)),
          Effect.mapError(failure("Read"))
        ),
      claimJob: (job_id, previous, instance_id) =>
        submit(
          { _tag: "ClaimJob", job_id, previous, instance_id },
          (r) => (typeof r === "boolean" ? Option.some(r) : Option.none())
        ),
      saveInstance: (instance) => submit({ _tag: "SaveInstance", instance }, none),
      detachSessions: (instance_id, resume_until, now) =>
        submit(
          { _tag: "DetachSessions", instance_id, resume_until, now },
          (r) => (typeof r === "number" ? Option.some(r) : Option.none())
        ),
      instances: sql`SELECT * FROM runtime_instances ORDER BY started_at, instance_id`.pipe(
        Effect.flatMap(Schema.decodeUnknown(Schema.Array(InstanceRow))),
        Effect.map((rows) => rows.map(toInstance)),
        Effect.mapError(failure("Read"))
      ),
      positionOf: (sessionId, messageId) =>
        Effect.map(
          events(sql`SELECT e.*, s.principal AS principal FROM events e
            LEFT JOIN sessions s ON s.session_id = e.session_id
            WHERE e.session_id = ${sessionId} AND e.message_id = ${messageId} ORDER BY e.seq LIMIT 1`),
          (rows) => Option.fromNullable(rows[0])
        ),
      lastPosition: (sessionId) =>
        sql`SELECT COALESCE(MAX(seq), 0) AS n FROM events WHERE session_id = ${sessionId}`.pipe(
          Effect.flatMap(Schema.decodeUnknown(Schema.Tuple(Schema.Struct({ n: Schema.Number })))),
          Effect.map(([row]) => row.n),
          Effect.mapError(failure("Read"))
        )
    })
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
      Layer.provide(SqliteMigrator.layer({ loader: migrations }).pipe(Layer.provide(NodeContext.layer))),
      Layer.provide(SqliteClient.layer({ filename: options.filename })),
      Layer.mapError((cause) =>
        new EventLogError({
          reason: "Open",
          message: `cannot open the event log ${options.filename}: ${cause.message}`,
          cause
        })
      )
    )
