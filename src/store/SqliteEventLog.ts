/**
 * The event log on SQLite (the default backend): embedded migrations, WAL,
 * and group commit — every write goes through one writer fiber that commits
 * whatever is waiting in one transaction, so order and durability hold while
 * commits are amortized across sessions.
 */
import { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import * as Migrator from "@effect/sql/Migrator"
import { SqliteClient, SqliteMigrator } from "@effect/sql-sqlite-node"
import { NodeContext } from "@effect/platform-node"
import { Deferred, Effect, Layer, Option, Queue, Schema } from "effect"
import { type Claim, EventLog, EventLogError, type Inbound, type JobRecord, type LoggedEnvelope, type StoredEvent } from "./EventLog.js"

export interface Options {
  readonly filename: string
  /** `FULL` (default): each commit is synced; `NORMAL`: survives a process crash, may lose the last commits on power loss. */
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
  body: Schema.String
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
  updated_at: Schema.Number
})

const orUndefined = (v: string | null): string | undefined => v ?? undefined

const toStored = (r: typeof EventRow.Type): StoredEvent => ({
  seq: r.seq,
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
const toJob = ({ cancel_reason, checkpoint_id, idempotency_key, terminal, ...rest }: typeof JobRow.Type): JobRecord => ({
  ...rest,
  ...(checkpoint_id !== null ? { checkpoint_id } : {}),
  ...(cancel_reason !== null ? { cancel_reason } : {}),
  ...(idempotency_key !== null ? { idempotency_key } : {}),
  ...(terminal !== null ? { terminal } : {})
})

type Op =
  | { readonly _tag: "Inbound"; readonly principal: string; readonly envelopes: ReadonlyArray<LoggedEnvelope>; readonly done: Deferred.Deferred<ReadonlyArray<Inbound>, EventLogError> }
  | { readonly _tag: "Outbound"; readonly envelopes: ReadonlyArray<LoggedEnvelope>; readonly done: Deferred.Deferred<void, EventLogError> }
  | { readonly _tag: "Claim"; readonly claim: Parameters<EventLog["Type"]["claimIdempotencyKey"]>[0]; readonly done: Deferred.Deferred<Claim, EventLogError> }
  /** `done` is absent for staged writes: nobody waits, a failure is logged. */
  | { readonly _tag: "SaveJob"; readonly job: JobRecord; readonly done: Deferred.Deferred<void, EventLogError> | undefined }

/** Most operations one transaction takes. */
const BATCH = 1000

/** Rows per INSERT statement: 10 columns each stays well under SQLite's 32,766 bound parameters. */
const ROWS_PER_INSERT = 500

const failure = (reason: "Write" | "Read") => (cause: unknown) =>
  new EventLogError({ reason, message: cause instanceof Error ? cause.message : String(cause), cause })

export const make = (options: Options) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql.unsafe(`PRAGMA synchronous = ${options.synchronous ?? "FULL"}`).pipe(Effect.mapError(failure("Write")))
    const queue = yield* Queue.unbounded<Op>()

    /** Multi-row INSERTs for a run of envelopes (far cheaper than one statement each), in chunks under SQLite's bound-parameter limit. */
    const insertEvents = (direction: "in" | "out", envelopes: ReadonlyArray<LoggedEnvelope>): Effect.Effect<void, SqlError> =>
      envelopes.length > ROWS_PER_INSERT
        ? Effect.zipRight(insertEvents(direction, envelopes.slice(0, ROWS_PER_INSERT)), insertEvents(direction, envelopes.slice(ROWS_PER_INSERT)))
        : envelopes.length === 0 ? Effect.void : sql`INSERT INTO events ${
        sql.insert(envelopes.map((e) => ({
          direction,
          session_id: e.session_id,
          message_id: e.id,
          type: e.type,
          job_id: e.job_id ?? null,
          stream_id: e.stream_id ?? null,
          trace_id: e.trace_id ?? null,
          correlation_id: e.correlation_id ?? null,
          timestamp: e.timestamp,
          body: e.json
        })))
      }`.pipe(Effect.asVoid)

    /** Claims message ids for `principal`; RETURNING names the ids that were not there before. */
    const insertInbound = (principal: string, envelopes: ReadonlyArray<LoggedEnvelope>): Effect.Effect<ReadonlyArray<unknown>, SqlError> =>
      envelopes.length > ROWS_PER_INSERT
        ? Effect.zipWith(
          insertInbound(principal, envelopes.slice(0, ROWS_PER_INSERT)),
          insertInbound(principal, envelopes.slice(ROWS_PER_INSERT)),
          (a, b) => [...a, ...b]
        )
        : sql`INSERT OR IGNORE INTO inbound ${sql.insert(envelopes.map((e) => ({ principal, message_id: e.id })))} RETURNING message_id`.pipe(
          Effect.map((rows) => rows.map((row) => row["message_id"]))
        )

    /** Runs one operation inside the batch's transaction; completes its caller afterwards. */
    const execute = (op: Op, superseded: boolean) =>
      Effect.gen(function*() {
        switch (op._tag) {
          case "Inbound": {
            // RETURNING gives each new id once: its first occurrence is New, any later copy in the
            // same batch is a Duplicate like an id seen in an earlier batch (§6.4)
            const fresh = new Set(yield* insertInbound(op.principal, op.envelopes))
            const verdicts = op.envelopes.map((e): Inbound => (fresh.delete(e.id) ? { _tag: "New" } : { _tag: "Duplicate" }))
            yield* insertEvents("in", op.envelopes.filter((_, i) => verdicts[i]?._tag === "New"))
            return () => Deferred.succeed(op.done, verdicts)
          }
          case "Outbound":
            yield* insertEvents("out", op.envelopes)
            return () => Deferred.succeed(op.done, undefined)
          case "Claim": {
            const { expiresAt, job_id, key, now, principal } = op.claim
            const held = yield* sql`SELECT job_id FROM idempotency WHERE principal = ${principal} AND key = ${key} AND expires_at > ${now}`
            const existing = held[0]?.["job_id"]
            if (typeof existing === "string") return () => Deferred.succeed(op.done, { _tag: "Existing", job_id: existing } as const)
            yield* sql`INSERT OR REPLACE INTO idempotency (principal, key, job_id, expires_at) VALUES (${principal}, ${key}, ${job_id}, ${expiresAt})`
            return () => Deferred.succeed(op.done, { _tag: "Claimed" } as const)
          }
          case "SaveJob": {
            const done = op.done
            const complete = () => (done === undefined ? Effect.succeed(true) : Deferred.succeed(done, undefined))
            // a later write of the same job in this transaction replaces this one anyway
            if (superseded) return complete
            const j = op.job
            yield* sql`INSERT OR REPLACE INTO jobs (job_id, session_id, principal, tool, command_id, state, checkpoint_id,
              retry_count, cancel_reason, idempotency_key, terminal, created_at, updated_at)
              VALUES (${j.job_id}, ${j.session_id}, ${j.principal}, ${j.tool}, ${j.command_id}, ${j.state}, ${j.checkpoint_id ?? null},
              ${j.retry_count}, ${j.cancel_reason ?? null}, ${j.idempotency_key ?? null}, ${j.terminal ?? null}, ${j.created_at}, ${j.updated_at})`
            return complete
          }
        }
      })

    const fail = (op: Op, error: EventLogError): Effect.Effect<boolean> => {
      switch (op._tag) {
        case "Inbound":
          return Deferred.fail(op.done, error)
        case "Claim":
          return Deferred.fail(op.done, error)
        case "Outbound":
          return Deferred.fail(op.done, error)
        case "SaveJob":
          return op.done !== undefined
            ? Deferred.fail(op.done, error)
            : Effect.as(Effect.logError(`cannot record job ${op.job.job_id}`, error), true)
      }
    }

    /**
     * Runs a batch in order, merging each run of consecutive outbound appends
     * (from any sessions) into one multi-row INSERT: statements, not rows, are
     * what cost here (bench/eventlog).
     */
    const executeAll = (ops: Iterable<Op>) =>
      Effect.gen(function*() {
        const completions: Array<() => Effect.Effect<boolean>> = []
        // the last write of each job in this batch: earlier ones need no statement
        const lastSave = new Map<string, Op>()
        for (const op of ops) if (op._tag === "SaveJob") lastSave.set(op.job.job_id, op)
        let run: Array<Extract<Op, { readonly _tag: "Outbound" }>> = []
        const flushRun = Effect.suspend(() => {
          const pending = run
          run = []
          if (pending.length === 0) return Effect.void
          return insertEvents("out", pending.flatMap((op) => op.envelopes)).pipe(
            Effect.tap(() => Effect.sync(() => { for (const op of pending) completions.push(() => Deferred.succeed(op.done, undefined)) }))
          )
        })
        for (const op of ops) {
          if (op._tag === "Outbound") {
            run.push(op)
            continue
          }
          yield* flushRun
          completions.push(yield* execute(op, op._tag === "SaveJob" && lastSave.get(op.job.job_id) !== op))
        }
        yield* flushRun
        return completions
      })

    // the writer: one transaction per batch of whatever is waiting (group commit)
    yield* Effect.gen(function*() {
      while (true) {
        const ops = yield* Queue.takeBetween(queue, 1, BATCH)
        yield* sql.withTransaction(executeAll(ops)).pipe(
          Effect.matchEffect({
            onSuccess: (completions) => Effect.forEach(completions, (complete) => complete(), { discard: true }),
            onFailure: (e) => Effect.forEach(ops, (op) => fail(op, failure("Write")(e)), { discard: true })
          })
        )
      }
    }).pipe(Effect.forkScoped)

    const submit = <A>(make: (done: Deferred.Deferred<A, EventLogError>) => Op) =>
      Effect.flatMap(Deferred.make<A, EventLogError>(), (done) => Effect.zipRight(Queue.offer(queue, make(done)), Deferred.await(done)))

    const events = (query: Effect.Effect<ReadonlyArray<unknown>, SqlError>) =>
      query.pipe(Effect.flatMap(Schema.decodeUnknown(Schema.Array(EventRow))), Effect.map((rows) => rows.map(toStored)), Effect.mapError(failure("Read")))

    return EventLog.of({
      recordInbound: (principal, envelopes) =>
        envelopes.length === 0 ? Effect.succeed([]) : submit<ReadonlyArray<Inbound>>((done) => ({ _tag: "Inbound", principal, envelopes, done })),
      recordOutbound: (envelopes) =>
        envelopes.length === 0 ? Effect.void : submit<void>((done) => ({ _tag: "Outbound", envelopes, done })),
      jobEvents: (jobId) => events(sql`SELECT * FROM events WHERE job_id = ${jobId} AND direction = 'out' ORDER BY seq`),
      answersTo: (id) => events(sql`SELECT * FROM events WHERE correlation_id = ${id} AND direction = 'out' ORDER BY seq`),
      replaySession: (sessionId, afterSeq) => events(sql`SELECT * FROM events WHERE session_id = ${sessionId} AND seq > ${afterSeq} ORDER BY seq`),
      claimIdempotencyKey: (claim) => submit<Claim>((done) => ({ _tag: "Claim", claim, done })),
      saveJob: (job) => submit<void>((done) => ({ _tag: "SaveJob", job, done })),
      stageJob: (job) => Queue.offer(queue, { _tag: "SaveJob", job, done: undefined }).pipe(Effect.asVoid),
      getJob: (jobId) =>
        sql`SELECT * FROM jobs WHERE job_id = ${jobId}`.pipe(
          Effect.flatMap(Schema.decodeUnknown(Schema.Array(JobRow))),
          Effect.map((rows) => Option.map(Option.fromNullable(rows[0]), toJob)),
          Effect.mapError(failure("Read"))
        ),
      unfinishedJobs: sql`SELECT * FROM jobs WHERE terminal IS NULL ORDER BY created_at, job_id`.pipe(
        Effect.flatMap(Schema.decodeUnknown(Schema.Array(JobRow))),
        Effect.map((rows) => rows.map(toJob)),
        Effect.mapError(failure("Read"))
      )
    })
  })

/** The SQLite event log on `filename` (created and migrated as needed). */
export const layer = (options: Options): Layer.Layer<EventLog, EventLogError> =>
  Layer.scoped(EventLog, make(options)).pipe(
    Layer.provide(SqliteMigrator.layer({ loader: migrations }).pipe(Layer.provide(NodeContext.layer))),
    Layer.provide(SqliteClient.layer({ filename: options.filename })),
    Layer.mapError((cause) => new EventLogError({ reason: "Open", message: `cannot open the event log ${options.filename}: ${cause.message}`, cause }))
  )
