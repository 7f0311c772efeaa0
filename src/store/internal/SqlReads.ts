/**
 * The read half of the event log, in SQL both backends (SQLite, PostgreSQL) run as it is. Reads go
 * straight to the database (not through the group commit) and see what is committed.
 */
import type { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { Effect, Option, Schema } from "effect"
import {
  type EventLog,
  EventLogError,
  type EventQuery,
  type JobRecord,
  type LeaseRecord,
  pageSize
} from "../EventLog.js"
import type { Writes } from "./GroupCommit.js"
import {
  EventRow,
  InstanceRow,
  JobRow,
  LeaseRow,
  SessionRow,
  toInstance,
  toJob,
  toLease,
  toSession,
  toStored
} from "./Rows.js"

/** The read half of the `EventLog`. */
export type Reads = Omit<EventLog["Type"], keyof Writes>

export interface Options {
  /** SQLite logs from before migration 0006 hold re-addressed copies of some envelopes: reads skip them. */
  readonly skipCopies: boolean
}

const failure = (cause: unknown) =>
  new EventLogError({ reason: "Read", message: cause instanceof Error ? cause.message : String(cause), cause })

/**
 * The statement of `EventLog.read` (undefined: an empty list allows nothing). Exported so that the query
 * plans the indexes are made for can be checked (test/store/QueryPlans.test.ts).
 */
export const readStatement = (sql: SqlClient.SqlClient, options: Options, query: EventQuery) => {
  const lists = [
    ["e.message_id", query.id],
    ["e.session_id", query.session_id],
    ["e.job_id", query.job_id],
    ["e.stream_id", query.stream_id],
    ["e.trace_id", query.trace_id],
    ["e.correlation_id", query.correlation_id],
    ["e.type", query.types]
  ] as const
  if (lists.some(([, values]) => values !== undefined && values.length === 0)) return undefined
  const clauses = [
    sql`e.seq > ${Math.max(0, query.after ?? 0)}`,
    ...(options.skipCopies ? [sql`e.copy = 0`] : []),
    ...(query.direction !== undefined ? [sql`e.direction = ${query.direction}`] : []),
    ...lists.flatMap(([column, values]) => (values === undefined ? [] : [sql.in(column, values)]))
  ]
  return sql`SELECT e.*, s.principal AS principal FROM events e
      LEFT JOIN sessions s ON s.session_id = e.session_id
      WHERE ${sql.and(clauses)} ORDER BY e.seq LIMIT ${pageSize(query)}`
}

/** The statement of `EventLog.positionOf`: the first row of message `messageId` in session `sessionId`. */
export const positionStatement = (sql: SqlClient.SqlClient, sessionId: string, messageId: string) =>
  sql`SELECT e.*, s.principal AS principal FROM events e
      LEFT JOIN sessions s ON s.session_id = e.session_id
      WHERE e.session_id = ${sessionId} AND e.message_id = ${messageId} ORDER BY e.seq LIMIT 1`

/** The statement of `EventLog.lastPosition`. */
export const lastPositionStatement = (sql: SqlClient.SqlClient, sessionId: string) =>
  sql`SELECT COALESCE(MAX(seq), 0) AS n FROM events WHERE session_id = ${sessionId}`

/** The statement of `EventLog.unfinishedJobs` (a starting runtime's). */
export const unfinishedJobsStatement = (sql: SqlClient.SqlClient) =>
  sql`SELECT * FROM jobs WHERE terminal IS NULL ORDER BY created_at, job_id`

export const make = (sql: SqlClient.SqlClient, options: Options): Reads => {
  const jobs = <A>(
    query: Effect.Effect<ReadonlyArray<unknown>, SqlError>,
    read: (rows: ReadonlyArray<JobRecord>) => A
  ) =>
    query.pipe(
      Effect.flatMap(Schema.decodeUnknown(Schema.Array(JobRow))),
      Effect.map((rows) => read(rows.map(toJob))),
      Effect.mapError(failure)
    )

  const events = (query: Effect.Effect<ReadonlyArray<unknown>, SqlError>) =>
    query.pipe(
      Effect.flatMap(Schema.decodeUnknown(Schema.Array(EventRow))),
      Effect.map((rows) => rows.map(toStored)),
      Effect.mapError(failure)
    )

  const leases = <A>(
    query: Effect.Effect<ReadonlyArray<unknown>, SqlError>,
    read: (rows: ReadonlyArray<LeaseRecord>) => A
  ) =>
    query.pipe(
      Effect.flatMap(Schema.decodeUnknown(Schema.Array(LeaseRow))),
      Effect.map((rows) => read(rows.map(toLease))),
      Effect.mapError(failure)
    )

  return {
    read: (query) => {
      const statement = readStatement(sql, options, query)
      return statement === undefined ? Effect.succeed([]) : events(statement)
    },
    head: sql`SELECT COALESCE(MAX(seq), 0) AS head FROM events`.pipe(
      Effect.flatMap(Schema.decodeUnknown(Schema.Tuple(Schema.Struct({ head: Schema.Number })))),
      Effect.map(([row]) => row.head),
      Effect.mapError(failure)
    ),
    getJob: (jobId) => jobs(sql`SELECT * FROM jobs WHERE job_id = ${jobId}`, (rows) => Option.fromNullable(rows[0])),
    unfinishedJobs: jobs(unfinishedJobsStatement(sql), (rows) => rows),
    getLease: (leaseId) =>
      leases(sql`SELECT * FROM leases WHERE lease_id = ${leaseId}`, (rows) => Option.fromNullable(rows[0])),
    liveLeases: (now) =>
      leases(
        sql`SELECT * FROM leases WHERE revoked IS NULL AND expires_at > ${now} ORDER BY created_at, lease_id`,
        (rows) => rows
      ),
    getSession: (sessionId) =>
      sql`SELECT * FROM durable_sessions WHERE session_id = ${sessionId}`.pipe(
        Effect.flatMap(Schema.decodeUnknown(Schema.Array(SessionRow))),
        Effect.map((rows) => Option.map(Option.fromNullable(rows[0]), toSession)),
        Effect.mapError(failure)
      ),
    instances: sql`SELECT * FROM runtime_instances ORDER BY started_at, instance_id`.pipe(
      Effect.flatMap(Schema.decodeUnknown(Schema.Array(InstanceRow))),
      Effect.map((rows) => rows.map(toInstance)),
      Effect.mapError(failure)
    ),
    positionOf: (sessionId, messageId) =>
      Effect.map(events(positionStatement(sql, sessionId, messageId)), (rows) => Option.fromNullable(rows[0])),
    lastPosition: (sessionId) =>
      lastPositionStatement(sql, sessionId).pipe(
        Effect.flatMap(Schema.decodeUnknown(Schema.Tuple(Schema.Struct({ n: Schema.Number })))),
        Effect.map(([row]) => row.n),
        Effect.mapError(failure)
      )
  }
}
