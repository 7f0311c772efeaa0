/**
 * The write side of the PostgreSQL event log: one transaction per group of writes (group commit), with
 * few round trips — rows of one kind go in one statement (`unnest` of arrays), in a fixed key order so
 * two runtimes writing the same keys cannot deadlock each other.
 *
 * Positions in commit order: the events of a group take their positions last, from the one
 * `arcp_sequencer` row (`UPDATE ... RETURNING`), whose row lock is held until the commit. A writer that
 * takes positions after ours waits for our commit, and PostgreSQL makes a commit visible before it
 * releases the transaction's locks: when position P is visible, every position below it is too. The
 * positions are gapless (a rolled-back group returns its range with the row). `pg_notify` in the same
 * statement tells listening runtimes the last position, delivered only if the transaction commits.
 */
import type { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { Effect } from "effect"
import type { Claim, Inbound, JobRecord, LoggedEnvelope, Prune, SessionRecord } from "../EventLog.js"
import { instanceColumns, jobColumns, leaseColumns, sessionColumns } from "../internal/Rows.js"
import type { Write, WriteResult } from "../internal/SqliteWriter.js"

/** The notification channel carrying the last committed position. */
export const CHANNEL = "arcp_events"

const NEW: Inbound = { _tag: "New" }
const DUPLICATE: Inbound = { _tag: "Duplicate" }
const CLAIMED: Claim = { _tag: "Claimed" }

const byKey = <A>(key: (a: A) => string) => (a: A, b: A) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0)

/** Per column, the values of `rows`, for an `unnest` of arrays. */
const columns = <A>(rows: ReadonlyArray<A>, pick: ReadonlyArray<(a: A) => unknown>) => pick.map((f) => rows.map(f))

/** Rows of values as one array per column (what `unnest` takes). */
const transpose = <A>(rows: ReadonlyArray<ReadonlyArray<A>>, width: number): Array<Array<A | undefined>> =>
  Array.from({ length: width }, (_, c) => rows.map((row) => row[c]))

const JOB_FIELDS = [
  "job_id",
  "session_id",
  "principal",
  "tool",
  "command_id",
  "state",
  "checkpoint_id",
  "retry_count",
  "cancel_reason",
  "idempotency_key",
  "terminal",
  "created_at",
  "updated_at",
  "instance_id",
  "arguments"
]
const JOB_COLUMNS = JOB_FIELDS.join(", ")
const JOB_EXCLUDED = JOB_FIELDS.map((c) => `EXCLUDED.${c}`).join(", ")

interface Appended {
  readonly direction: "in" | "out"
  readonly envelope: LoggedEnvelope
}

/** What a group commit did: one result per write, in order, and the positions its inbound envelopes took. */
export interface Committed {
  readonly results: ReadonlyArray<WriteResult>
  readonly inbound: ReadonlyArray<number>
}

/** Commits `writes` in one transaction (all or nothing). */
export const commit = (
  sql: SqlClient.SqlClient,
  writes: ReadonlyArray<Write>
): Effect.Effect<Committed, SqlError> =>
  sql.withTransaction(Effect.gen(function*() {
    const results: Array<WriteResult> = writes.map(() => undefined)
    const q = (text: string, params: ReadonlyArray<unknown>) => sql.unsafe<Record<string, unknown>>(text, params)

    // inbound: the first principal recorded for a session owns it; the first copy of an id is New (§6.4)
    const owners = new Map<string, string>()
    const keys = new Map<string, readonly [string, string]>()
    for (const w of writes) {
      if (w._tag !== "Inbound") continue
      for (const e of w.envelopes) {
        if (!owners.has(e.session_id)) owners.set(e.session_id, w.principal)
        keys.set(`${w.principal}\u0000${e.id}`, [w.principal, e.id])
      }
    }
    const fresh = new Set<string>()
    if (owners.size > 0) {
      const rows = [...owners].sort(byKey(([id]) => id))
      const claims = [...keys.entries()].sort(byKey(([k]) => k)).map(([, pair]) => pair)
      // one round trip: the owners, then the message ids (those inserted are the new ones)
      const inserted = yield* q(
        `WITH owners AS (INSERT INTO sessions (session_id, principal) SELECT * FROM unnest($1::text[], $2::text[])
           ON CONFLICT DO NOTHING)
         INSERT INTO inbound (principal, message_id) SELECT * FROM unnest($3::text[], $4::text[])
         ON CONFLICT DO NOTHING RETURNING principal, message_id`,
        [
          ...columns(rows, [([id]) => id, ([, principal]) => principal]),
          ...columns(claims, [([principal]) => principal, ([, id]) => id])
        ]
      )
      for (const r of inserted) fresh.add(`${String(r["principal"])}\u0000${String(r["message_id"])}`)
    }

    // the last SaveJob of each job in this group is the one written (earlier ones are superseded)
    const lastJob = new Map<string, number>()
    writes.forEach((w, i) => {
      if (w._tag === "SaveJob") lastJob.set(w.job.job_id, i)
    })

    const appended: Array<Appended> = []
    const inbound: Array<number> = []
    const outboundAt: Array<[number, number, number]> = []
    let pendingJobs: Array<JobRecord> = []
    // releases read the session's last position: written once this group's events have theirs (below)
    const releases: Array<SessionRecord> = []
    const flushJobs = Effect.suspend(() => {
      if (pendingJobs.length === 0) return Effect.void
      const rows = pendingJobs.sort(byKey((j) => j.job_id))
      pendingJobs = []
      return q(
        `INSERT INTO jobs (${JOB_COLUMNS}) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
          $5::text[], $6::text[], $7::text[], $8::int[], $9::text[], $10::text[], $11::text[], $12::bigint[],
          $13::bigint[], $14::text[], $15::text[])
         ON CONFLICT (job_id) DO UPDATE SET (${JOB_COLUMNS}) = ROW(${JOB_EXCLUDED})`,
        transpose(rows.map(jobColumns), JOB_FIELDS.length)
      )
    })

    for (let i = 0; i < writes.length; i++) {
      const w = writes[i]
      if (w === undefined) continue
      if (w._tag === "SaveJob") {
        if (lastJob.get(w.job.job_id) === i) pendingJobs.push(w.job)
        continue
      }
      // other writes see the job rows written before them
      if (w._tag === "ClaimJob") yield* flushJobs
      switch (w._tag) {
        case "Inbound": {
          const taken = new Set<string>()
          results[i] = w.envelopes.map((e) => {
            const key = `${w.principal}\u0000${e.id}`
            if (!fresh.has(key) || taken.has(key)) return DUPLICATE
            taken.add(key)
            fresh.delete(key)
            appended.push({ direction: "in", envelope: e })
            return NEW
          })
          break
        }
        case "Outbound":
          outboundAt.push([i, appended.length, w.envelopes.length])
          for (const e of w.envelopes) appended.push({ direction: "out", envelope: e })
          break
        case "Claim": {
          const won = yield* q(
            `INSERT INTO idempotency (principal, key, job_id, digest, expires_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (principal, key) DO UPDATE SET job_id = EXCLUDED.job_id, digest = EXCLUDED.digest,
               expires_at = EXCLUDED.expires_at WHERE idempotency.expires_at <= $6 RETURNING 1`,
            [w.principal, w.key, w.job_id, w.digest, w.expiresAt, w.now]
          )
          if (won.length > 0) {
            results[i] = CLAIMED
            break
          }
          const [held] = yield* q(`SELECT job_id, digest FROM idempotency WHERE principal = $1 AND key = $2`, [
            w.principal,
            w.key
          ])
          const digest = held?.["digest"]
          results[i] = {
            _tag: "Existing",
            job_id: String(held?.["job_id"] ?? ""),
            ...(typeof digest === "string" ? { digest } : {})
          }
          break
        }
        case "ClaimJob": {
          const claimed = yield* q(
            `UPDATE jobs SET instance_id = $1 WHERE job_id = $2 AND terminal IS NULL
             AND instance_id IS NOT DISTINCT FROM $3 RETURNING 1`,
            [w.instance_id, w.job_id, w.previous ?? null]
          )
          results[i] = claimed.length > 0
          break
        }
        case "SaveSession": {
          const r = w.session
          yield* q(
            `INSERT INTO durable_sessions (session_id, principal, capabilities, lease_expires_at, last_position, state,
              resume_until, instance_id, trust_level, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (session_id) DO UPDATE SET principal = EXCLUDED.principal, capabilities = EXCLUDED.capabilities,
               lease_expires_at = EXCLUDED.lease_expires_at, last_position = EXCLUDED.last_position,
               state = EXCLUDED.state, resume_until = EXCLUDED.resume_until, instance_id = EXCLUDED.instance_id,
               trust_level = EXCLUDED.trust_level, created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at`,
            sessionColumns(r)
          )
          break
        }
        case "ReleaseSession":
          releases.push(w.session)
          break
        case "SaveInstance": {
          const r = w.instance
          yield* q(
            `INSERT INTO runtime_instances (instance_id, host, pid, started_at, heartbeat_at, stopped_at, lease_until)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (instance_id) DO UPDATE SET host = EXCLUDED.host, pid = EXCLUDED.pid,
               started_at = EXCLUDED.started_at, heartbeat_at = EXCLUDED.heartbeat_at, stopped_at = EXCLUDED.stopped_at,
               lease_until = EXCLUDED.lease_until`,
            instanceColumns(r)
          )
          break
        }
        case "DetachSessions": {
          const freed = yield* q(
            `UPDATE durable_sessions SET state = 'detached', resume_until = $1, updated_at = $2
             WHERE instance_id = $3 AND state = 'attached' RETURNING 1`,
            [w.resume_until, w.now, w.instance_id]
          )
          results[i] = freed.length
          break
        }
        case "SaveLease": {
          const l = w.lease
          yield* q(
            `INSERT INTO leases (lease_id, principal, session_id, job_id, permission, resource, operation, granted_by,
              expires_at, revoked, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (lease_id) DO UPDATE SET principal = EXCLUDED.principal, session_id = EXCLUDED.session_id,
               job_id = EXCLUDED.job_id, permission = EXCLUDED.permission, resource = EXCLUDED.resource,
               operation = EXCLUDED.operation, granted_by = EXCLUDED.granted_by, expires_at = EXCLUDED.expires_at,
               revoked = EXCLUDED.revoked, created_at = EXCLUDED.created_at`,
            leaseColumns(l)
          )
          break
        }
        case "Prune":
          results[i] = yield* prune(q, w)
          break
        default: {
          // a new kind of write must be written here too: this stops compiling until it is
          const unhandled: never = w
          return yield* Effect.dieMessage(`the PostgreSQL writer cannot write ${JSON.stringify(unhandled)}`)
        }
      }
    }
    yield* flushJobs

    // positions last, in one statement with the rows and the notification: the sequencer row stays locked
    // from here to the commit, as briefly as possible
    if (appended.length > 0) {
      const [row] = yield* q(
        `WITH taken AS (UPDATE arcp_sequencer SET last = last + $1 WHERE id = 1 RETURNING last),
         rows AS (INSERT INTO events (seq, direction, session_id, message_id, type, job_id, stream_id, trace_id,
             correlation_id, timestamp, body)
           SELECT (SELECT last FROM taken) - $1 + u.n, u.direction, u.session_id, u.message_id, u.type, u.job_id,
             u.stream_id, u.trace_id, u.correlation_id, u.timestamp, u.body
           FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
             $9::text[], $10::text[], $11::text[]) WITH ORDINALITY
             AS u(direction, session_id, message_id, type, job_id, stream_id, trace_id, correlation_id, timestamp,
               body, n))
         SELECT last, CASE WHEN $12::boolean THEN pg_notify('${CHANNEL}', last::text) END AS notified FROM taken`,
        [
          appended.length,
          ...columns(appended, [
            (a) => a.direction,
            (a) => a.envelope.session_id,
            (a) => a.envelope.id,
            (a) => a.envelope.type,
            (a) => a.envelope.job_id ?? null,
            (a) => a.envelope.stream_id ?? null,
            (a) => a.envelope.trace_id ?? null,
            (a) => a.envelope.correlation_id ?? null,
            (a) => a.envelope.timestamp,
            (a) => a.envelope.json
          ]),
          outboundAt.length > 0
        ]
      )
      const first = Number(row?.["last"]) - appended.length + 1
      for (const [index, offset, count] of outboundAt) {
        results[index] = Array.from({ length: count }, (_, k) => first + offset + k)
      }
      appended.forEach((a, k) => {
        if (a.direction === "in") inbound.push(first + k)
      })
    }
    for (const [index, , count] of outboundAt) if (count === 0) results[index] = []
    // a closed record stays closed; the last position is the log's as this group commits
    for (const r of releases.sort(byKey((s) => s.session_id))) {
      yield* q(
        `INSERT INTO durable_sessions (session_id, principal, capabilities, lease_expires_at, last_position, state,
          resume_until, instance_id, trust_level, created_at, updated_at)
         VALUES ($1, $2, $3, $4, (SELECT COALESCE(MAX(seq), 0) FROM events WHERE session_id = $5), $6, $7, $8, $9,
           $10, $11)
         ON CONFLICT (session_id) DO UPDATE SET principal = EXCLUDED.principal, capabilities = EXCLUDED.capabilities,
           lease_expires_at = EXCLUDED.lease_expires_at, last_position = EXCLUDED.last_position,
           state = EXCLUDED.state, resume_until = EXCLUDED.resume_until, instance_id = EXCLUDED.instance_id,
           trust_level = EXCLUDED.trust_level, created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at
         WHERE durable_sessions.state <> 'closed'`,
        // the session id stands where the last position goes: the statement reads it from the log
        sessionColumns(r).map((column, i) => (i === 4 ? r.session_id : column))
      )
    }
    return { results, inbound }
  }))

/** The retention pass (`EventLog.prune`, whose doc says what goes), in five statements; how many events went. */
const prune = (
  q: (text: string, params: ReadonlyArray<unknown>) => Effect.Effect<ReadonlyArray<Record<string, unknown>>, SqlError>,
  p: Prune
) =>
  Effect.gen(function*() {
    // the oldest events up to a position, but the last one and those of jobs that have not ended (their commands
    // too), with the dedup ids of the inbound ones; what the rest needs: the sessions and jobs they were of
    const [gone] = yield* q(
      `WITH batch AS (
         SELECT e.seq FROM events e WHERE e.seq <= $1 AND e.seq < (SELECT MAX(seq) FROM events)
           AND (e.job_id IS NULL OR NOT EXISTS (SELECT 1 FROM jobs j WHERE j.job_id = e.job_id AND j.terminal IS NULL))
           AND NOT (e.direction = 'in' AND e.message_id IN (SELECT command_id FROM jobs WHERE terminal IS NULL))
         ORDER BY e.seq LIMIT $2),
       gone AS (DELETE FROM events e USING batch b WHERE e.seq = b.seq
         RETURNING e.direction, e.message_id, e.session_id, e.job_id),
       forgot AS (DELETE FROM inbound i USING gone g, sessions s WHERE g.direction = 'in'
         AND s.session_id = g.session_id AND i.principal = s.principal AND i.message_id = g.message_id)
       SELECT (SELECT count(*) FROM gone) AS n, ARRAY(SELECT DISTINCT session_id FROM gone) AS sessions,
         ARRAY(SELECT DISTINCT job_id FROM gone WHERE job_id IS NOT NULL) AS jobs`,
      [p.through, p.limit]
    )
    const [claims] = yield* q(
      `WITH gone AS (DELETE FROM idempotency WHERE (principal, key) IN
         (SELECT principal, key FROM idempotency WHERE expires_at <= $1 LIMIT $2) RETURNING job_id)
       SELECT ARRAY(SELECT job_id FROM gone) AS jobs`,
      [p.now, p.limit]
    )
    const strings = (v: unknown): Array<string> => (Array.isArray(v) ? v.map(String) : [])
    const jobs = [...new Set([...strings(gone?.["jobs"]), ...strings(claims?.["jobs"])])]
    if (jobs.length > 0) {
      yield* q(
        `DELETE FROM jobs WHERE job_id = ANY($1::text[]) AND terminal IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM events e WHERE e.job_id = jobs.job_id)
           AND NOT EXISTS (SELECT 1 FROM idempotency i WHERE i.principal = jobs.principal
             AND i.key = jobs.idempotency_key AND i.job_id = jobs.job_id AND i.expires_at > $2)`,
        [jobs, p.now]
      )
    }
    const sessions = strings(gone?.["sessions"])
    if (sessions.length > 0) {
      yield* q(
        `DELETE FROM durable_sessions d WHERE session_id = ANY($1::text[])
           AND (state = 'closed' OR (state = 'detached' AND COALESCE(resume_until, 0) <= $2))
           AND NOT EXISTS (SELECT 1 FROM events e WHERE e.session_id = d.session_id)`,
        [sessions, p.now]
      )
      yield* q(
        `DELETE FROM sessions s WHERE session_id = ANY($1::text[])
           AND NOT EXISTS (SELECT 1 FROM durable_sessions d WHERE d.session_id = s.session_id)
           AND NOT EXISTS (SELECT 1 FROM events e WHERE e.session_id = s.session_id)
           AND NOT EXISTS (SELECT 1 FROM schedules c WHERE c.session_id = s.session_id AND c.state = 'active')`,
        [sessions]
      )
    }
    yield* q(`DELETE FROM leases WHERE expires_at < $1`, [p.before])
    return Number(gone?.["n"] ?? 0)
  })
