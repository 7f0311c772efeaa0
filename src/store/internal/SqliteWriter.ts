/**
 * The write side of the SQLite event log: its own better-sqlite3 connection
 * with prepared statements, committing a whole group of operations in one
 * synchronous transaction. Going through @effect/sql here cost ~250 µs of
 * fiber and statement-building work per transaction (bench/eventlog), more
 * than the commit itself; reads and migrations stay on @effect/sql.
 */
import Database from "better-sqlite3"
import type {
  Claim,
  GroupPart,
  Inbound,
  InstanceRecord,
  JobRecord,
  LeaseRecord,
  LoggedEnvelope,
  Prune
} from "../EventLog.js"
import * as Checkpoints from "./Checkpoints.js"
import { instanceColumns, jobColumns, leaseColumns, sessionColumns } from "./Rows.js"

/** One write the group commit takes (a mixed group's parts are writes too). Results come back in the same order. */
export type Write =
  | GroupPart
  | {
    readonly _tag: "Claim"
    readonly principal: string
    readonly key: string
    readonly job_id: string
    readonly digest: string
    readonly now: number
    readonly expiresAt: number
  }
  | { readonly _tag: "SaveJob"; readonly job: JobRecord }
  | { readonly _tag: "SaveLease"; readonly lease: LeaseRecord }
  | { readonly _tag: "SaveInstance"; readonly instance: InstanceRecord }
  | {
    readonly _tag: "DetachSessions"
    readonly instance_id: string
    readonly resume_until: number
    readonly now: number
  }
  | {
    readonly _tag: "ClaimJob"
    readonly job_id: string
    readonly previous: string | undefined
    readonly instance_id: string
  }
  | ({ readonly _tag: "Prune" } & Prune)

/**
 * Verdicts for Inbound, positions for Outbound, the claim for Claim, a flag for ClaimJob, a count for
 * DetachSessions and Prune, nothing for the others.
 */
export type WriteResult = ReadonlyArray<Inbound> | ReadonlyArray<number> | Claim | boolean | number | undefined

export interface SqliteWriter {
  /** Commits `writes` in one transaction (all or nothing); throws what SQLite throws. */
  readonly commit: (writes: ReadonlyArray<Write>) => ReadonlyArray<WriteResult>
  /** Whether the log holds message `id` of `principal` (committed): a staged inbound's verdict, read, not written. */
  readonly seen: (principal: string, id: string) => boolean
  readonly close: () => void
}

const NEW: Inbound = { _tag: "New" }
const DUPLICATE: Inbound = { _tag: "Duplicate" }
const CLAIMED: Claim = { _tag: "Claimed" }

/** Opens the writer on an already migrated database file. */
export const open = (filename: string, synchronous: "FULL" | "NORMAL"): SqliteWriter => {
  const db = new Database(filename)
  try {
    db.pragma("journal_mode = WAL")
    db.pragma(`synchronous = ${synchronous}`)
    db.pragma("busy_timeout = 5000")
    const insertEvent = db.prepare(
      `INSERT INTO events (direction, session_id, message_id, type, job_id, stream_id, trace_id, correlation_id, timestamp, body)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
    )
    const claimMessage = db.prepare("INSERT OR IGNORE INTO inbound (principal, message_id) VALUES (?, ?)")
    const heldMessage = db.prepare<[string, string], number>(
      "SELECT 1 FROM inbound WHERE principal = ? AND message_id = ?"
    ).pluck()
    // the first principal recorded for a session owns it (reads are confined to the owner's sessions)
    const ownSession = db.prepare("INSERT OR IGNORE INTO sessions (session_id, principal) VALUES (?, ?)")
    const heldKey = db.prepare<[string, string, number], { job_id: string; digest: string | null }>(
      "SELECT job_id, digest FROM idempotency WHERE principal = ? AND key = ? AND expires_at > ?"
    )
    const holdKey = db.prepare(
      "INSERT OR REPLACE INTO idempotency (principal, key, job_id, digest, expires_at) VALUES (?, ?, ?, ?, ?)"
    )
    const saveJob = db.prepare(
      `INSERT OR REPLACE INTO jobs (job_id, session_id, principal, tool, command_id, state, checkpoint_id,
        retry_count, cancel_reason, idempotency_key, terminal, created_at, updated_at, instance_id, arguments)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
    )
    const saveSession = db.prepare(
      `INSERT OR REPLACE INTO durable_sessions (session_id, principal, capabilities, lease_expires_at, last_position,
        state, resume_until, instance_id, trust_level, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
    )
    // a release: the last position read in the transaction, and a closed record stays closed
    const releaseSession = db.prepare(
      `INSERT INTO durable_sessions (session_id, principal, capabilities, lease_expires_at, last_position,
        state, resume_until, instance_id, trust_level, created_at, updated_at)
       VALUES (?, ?, ?, ?, (SELECT COALESCE(MAX(seq), 0) FROM events WHERE session_id = ?), ?, ?, ?, ?, ?, ?)
       ON CONFLICT (session_id) DO UPDATE SET principal = excluded.principal, capabilities = excluded.capabilities,
         lease_expires_at = excluded.lease_expires_at, last_position = excluded.last_position, state = excluded.state,
         resume_until = excluded.resume_until, instance_id = excluded.instance_id, trust_level = excluded.trust_level,
         created_at = excluded.created_at, updated_at = excluded.updated_at
       WHERE durable_sessions.state <> 'closed'`
    )
    const claimJob = db.prepare(
      "UPDATE jobs SET instance_id = ? WHERE job_id = ? AND terminal IS NULL AND instance_id IS ?"
    )
    const saveInstance = db.prepare(
      `INSERT OR REPLACE INTO runtime_instances (instance_id, host, pid, started_at, heartbeat_at, stopped_at,
        lease_until) VALUES (?, ?, ?, ?, ?, ?, ?)`
    )
    const detachSessions = db.prepare(
      `UPDATE durable_sessions SET state = 'detached', resume_until = ?, updated_at = ?
       WHERE instance_id = ? AND state = 'attached'`
    )
    const saveLease = db.prepare(
      `INSERT OR REPLACE INTO leases (lease_id, principal, session_id, job_id, permission, resource, operation,
        granted_by, expires_at, revoked, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
    )

    const pruning = preparePrune(db)

    const append = (direction: "in" | "out", e: LoggedEnvelope): number =>
      Number(
        insertEvent.run(
          direction,
          e.session_id,
          e.id,
          e.type,
          e.job_id ?? null,
          e.stream_id ?? null,
          e.trace_id ?? null,
          e.correlation_id ?? null,
          e.timestamp,
          e.json
        ).lastInsertRowid
      )

    const apply = (write: Write, superseded: boolean): WriteResult => {
      switch (write._tag) {
        case "Inbound": {
          for (const sessionId of new Set(write.envelopes.map((e) => e.session_id))) {
            ownSession.run(sessionId, write.principal)
          }
          // the first copy of an id is New; any later one, in this batch or before, is a Duplicate (§6.4)
          return write.envelopes.map((e) => {
            if (claimMessage.run(write.principal, e.id).changes === 0) return DUPLICATE
            append("in", e)
            return NEW
          })
        }
        case "Outbound":
          return write.envelopes.map((e) => append("out", e))
        case "Claim": {
          const held = heldKey.get(write.principal, write.key, write.now)
          if (held !== undefined) {
            // a key claimed before digests were stored (migration 0002) has none: it is not compared
            return { _tag: "Existing", job_id: held.job_id, ...(held.digest !== null ? { digest: held.digest } : {}) }
          }
          holdKey.run(write.principal, write.key, write.job_id, write.digest, write.expiresAt)
          return CLAIMED
        }
        case "SaveJob": {
          // a later write of the same job in this transaction replaces this one anyway
          if (superseded) return undefined
          const j = write.job
          saveJob.run(...jobColumns(j))
          return undefined
        }
        case "SaveSession": {
          const r = write.session
          saveSession.run(...sessionColumns(r))
          return undefined
        }
        case "ReleaseSession": {
          // the session id stands where the last position goes: the statement reads it from the log
          releaseSession.run(...sessionColumns(write.session).map((c, i) => (i === 4 ? write.session.session_id : c)))
          return undefined
        }
        case "ClaimJob":
          return claimJob.run(write.instance_id, write.job_id, write.previous ?? null).changes > 0
        case "SaveInstance": {
          const i = write.instance
          saveInstance.run(...instanceColumns(i))
          return undefined
        }
        case "DetachSessions":
          return detachSessions.run(write.resume_until, write.now, write.instance_id).changes
        case "SaveLease": {
          const l = write.lease
          saveLease.run(...leaseColumns(l))
          return undefined
        }
        case "Prune":
          return pruning(write)
      }
    }

    const transaction = db.transaction((writes: ReadonlyArray<Write>) => {
      const last = new Map<string, Write>()
      for (const w of writes) if (w._tag === "SaveJob") last.set(w.job.job_id, w)
      return writes.map((w) => apply(w, w._tag === "SaveJob" && last.get(w.job.job_id) !== w))
    })
    const checkpoints = Checkpoints.offThread(db, filename)
    return {
      commit: (writes) => {
        const results = transaction(writes)
        checkpoints.committed()
        return results
      },
      seen: (principal, id) => heldMessage.get(principal, id) !== undefined,
      close: () => {
        checkpoints.stop()
        db.close()
      }
    }
  } catch (error) {
    db.close()
    throw error
  }
}

interface PrunedRow {
  readonly seq: number
  readonly direction: "in" | "out"
  readonly message_id: string
  readonly session_id: string
  readonly job_id: string | null
  readonly principal: string | null
}

/**
 * The retention pass's statements (`EventLog.prune` says what goes). Each searches by a key or an index, so a
 * pass costs what it deletes, not the log's size (`QueryPlans.test`); the small tables of claims and leases are
 * scanned, and the unfinished jobs' partial index once per batch.
 */
export const PRUNE_SQL = {
  // the oldest events up to a position, but the last one and those of jobs that have not ended, the commands
  // that started them included (their dedup rows stay: a retransmit must not start the job again)
  batch: `SELECT e.seq, e.direction, e.message_id, e.session_id, e.job_id, s.principal FROM events e
     LEFT JOIN sessions s ON s.session_id = e.session_id
     WHERE e.seq <= ? AND e.seq < (SELECT MAX(seq) FROM events)
       AND (e.job_id IS NULL OR NOT EXISTS (SELECT 1 FROM jobs j WHERE j.job_id = e.job_id AND j.terminal IS NULL))
       AND NOT (e.direction = 'in' AND e.message_id IN (SELECT command_id FROM jobs WHERE terminal IS NULL))
     ORDER BY e.seq LIMIT ?`,
  deleteEvent: "DELETE FROM events WHERE seq = ?",
  forgetMessage: "DELETE FROM inbound WHERE principal = ? AND message_id = ?",
  // an ended job with no event left, unless an unexpired claim still answers with it
  deleteJob: `DELETE FROM jobs WHERE job_id = ? AND terminal IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM events WHERE job_id = jobs.job_id)
       AND NOT EXISTS (SELECT 1 FROM idempotency i WHERE i.principal = jobs.principal AND i.key = jobs.idempotency_key
         AND i.job_id = jobs.job_id AND i.expires_at > ?)`,
  deleteSession: `DELETE FROM durable_sessions WHERE session_id = ?
       AND (state = 'closed' OR (state = 'detached' AND COALESCE(resume_until, 0) <= ?))
       AND NOT EXISTS (SELECT 1 FROM events WHERE session_id = durable_sessions.session_id)`,
  // an owner stays while an active schedule fires into its session: the firings are recorded as that session's
  deleteOwner: `DELETE FROM sessions WHERE session_id = ?
       AND NOT EXISTS (SELECT 1 FROM durable_sessions d WHERE d.session_id = sessions.session_id)
       AND NOT EXISTS (SELECT 1 FROM events WHERE session_id = sessions.session_id)
       AND NOT EXISTS (SELECT 1 FROM schedules c WHERE c.session_id = sessions.session_id AND c.state = 'active')`,
  expiredClaims: "SELECT principal, key, job_id FROM idempotency WHERE expires_at <= ? LIMIT ?",
  deleteClaim: "DELETE FROM idempotency WHERE principal = ? AND key = ?",
  deleteLeases: "DELETE FROM leases WHERE expires_at < ?"
} as const

/** The retention pass as statements prepared once; how many events went. */
const preparePrune = (db: Database.Database) => {
  const batch = db.prepare<[number, number], PrunedRow>(PRUNE_SQL.batch)
  const deleteEvent = db.prepare(PRUNE_SQL.deleteEvent)
  const forgetMessage = db.prepare(PRUNE_SQL.forgetMessage)
  const deleteJob = db.prepare(PRUNE_SQL.deleteJob)
  const deleteSession = db.prepare(PRUNE_SQL.deleteSession)
  const deleteOwner = db.prepare(PRUNE_SQL.deleteOwner)
  const expiredClaims = db.prepare<[number, number], { principal: string; key: string; job_id: string }>(
    PRUNE_SQL.expiredClaims
  )
  const deleteClaim = db.prepare(PRUNE_SQL.deleteClaim)
  const deleteLeases = db.prepare(PRUNE_SQL.deleteLeases)

  return (p: Prune): number => {
    const rows = batch.all(p.through, p.limit)
    const jobs = new Set<string>()
    const sessions = new Set<string>()
    for (const row of rows) {
      deleteEvent.run(row.seq)
      if (row.direction === "in" && row.principal !== null) forgetMessage.run(row.principal, row.message_id)
      if (row.job_id !== null) jobs.add(row.job_id)
      sessions.add(row.session_id)
    }
    for (const claim of expiredClaims.all(p.now, p.limit)) {
      deleteClaim.run(claim.principal, claim.key)
      jobs.add(claim.job_id)
    }
    for (const job of jobs) deleteJob.run(job, p.now)
    for (const session of sessions) {
      deleteSession.run(session, p.now)
      deleteOwner.run(session)
    }
    deleteLeases.run(p.before)
    return rows.length
  }
}
