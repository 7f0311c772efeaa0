/**
 * The durable record (RFC §6.4, §10.2): every envelope a session sends or
 * accepts, in order; inbound dedup by message id; logical idempotency keys;
 * and the job records. One contract, two backends (SQLite, memory).
 *
 * Visibility: a session belongs to the principal under which its inbound
 * messages are recorded (its `session.open` is the first). Every read of
 * envelopes takes the asking principal and returns only envelopes that went
 * to, or came from, sessions of that principal: replays (duplicates, repeated
 * idempotency keys, later resume and subscription backfill) go through these
 * reads, so no caller can show one principal another's events.
 */
import { Context, type Effect, type Option, Schema } from "effect"

/** A storage failure. Callers treat it as INTERNAL; it never reaches the wire as-is. */
export class EventLogError extends Schema.TaggedError<EventLogError>()("EventLogError", {
  reason: Schema.Literal("Open", "Migrate", "Write", "Read"),
  message: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {}

/** The envelope fields the log indexes, plus the encoded envelope itself. */
export interface LoggedEnvelope {
  readonly id: string
  readonly type: string
  readonly session_id: string
  readonly job_id?: string | undefined
  readonly stream_id?: string | undefined
  readonly trace_id?: string | undefined
  readonly correlation_id?: string | undefined
  readonly timestamp: string
  /** The JSON text of the envelope, exactly as sent or received. */
  readonly json: string
}

/** One stored row, with its position in the log (strictly increasing in append order). */
export interface StoredEvent extends LoggedEnvelope {
  readonly seq: number
  readonly direction: "in" | "out"
}

/** The §10.2 job record. `terminal` is the JSON of the terminal envelope once the job has ended. */
export interface JobRecord {
  readonly job_id: string
  readonly session_id: string
  readonly principal: string
  readonly tool: string
  readonly command_id: string
  readonly state: string
  readonly checkpoint_id?: string | undefined
  readonly retry_count: number
  readonly cancel_reason?: string | undefined
  readonly idempotency_key?: string | undefined
  readonly terminal?: string | undefined
  readonly created_at: number
  readonly updated_at: number
  /** The runtime instance running it (§4.3): a starting runtime takes over only jobs whose owner is gone. */
  readonly instance_id?: string | undefined
  /** The JSON of its arguments, so a resumable tool can be run again from its checkpoint after a restart. */
  readonly arguments?: string | undefined
}

/**
 * A durable session (§9, §19): what a reconnecting client takes back with the
 * same `session_id`, also after a restart of the runtime.
 */
export interface SessionRecord {
  readonly session_id: string
  readonly principal: string
  /** The negotiated capabilities, as JSON. */
  readonly capabilities: string
  /** When its lease ends (epoch ms). */
  readonly lease_expires_at: number
  /** The log position of the last envelope recorded for it when its connection went (0: none). */
  readonly last_position: number
  /** "attached": a connection holds it; "detached": resumable until `resume_until`; "closed": for good. */
  readonly state: "attached" | "detached" | "closed"
  /** Until when a detached session may be taken back (epoch ms). */
  readonly resume_until?: number | undefined
  /** The runtime instance that last held it. */
  readonly instance_id: string
  /** The session's trust level (§15.3): a job of it resumed after a restart runs at it. */
  readonly trust_level?: string | undefined
  readonly created_at: number
  readonly updated_at: number
}

/** One runtime process using the store (§4.3): jobs it owns are left alone while it is alive. */
export interface InstanceRecord {
  readonly instance_id: string
  readonly host: string
  readonly pid: number
  readonly started_at: number
  /** Renewed while it runs (epoch ms). */
  readonly heartbeat_at: number
  /** Set when it stopped cleanly. */
  readonly stopped_at?: number | undefined
}

/**
 * A permission lease (§15.5): who holds it, what it covers and until when (epoch ms).
 * `revoked` is the reason once the grantor revoked it; an expired lease is simply past `expires_at`.
 */
export interface LeaseRecord {
  readonly lease_id: string
  readonly principal: string
  /** The session it was granted in (its job's). */
  readonly session_id: string
  readonly job_id?: string | undefined
  readonly permission: string
  readonly resource: string
  readonly operation: string
  readonly granted_by?: string | undefined
  readonly expires_at: number
  readonly revoked?: string | undefined
  readonly created_at: number
}

/** The outcome of recording an inbound message. */
export type Inbound =
  | { readonly _tag: "New" }
  /** The same principal already sent this message id: do not execute it again (§6.4). */
  | { readonly _tag: "Duplicate" }

/** The outcome of claiming an idempotency key. */
export type Claim =
  | { readonly _tag: "Claimed" }
  /**
   * The key is held (within its horizon) by an earlier command, which created `job_id`; `digest` is
   * the one stored with it (absent for keys claimed before digests were stored).
   */
  | { readonly _tag: "Existing"; readonly job_id: string; readonly digest?: string | undefined }

export class EventLog extends Context.Tag("arcp/EventLog")<EventLog, {
  /**
   * Records envelopes the runtime accepted, durably, before they are executed;
   * one verdict per envelope, in order. Dedup is per (principal, message id):
   * ids are globally unique, so a repeat is a retransmit — also after a
   * reconnect or a restart (§6.4). A batch is committed as one transaction.
   * The first envelope recorded for a session makes it `principal`'s for good.
   */
  readonly recordInbound: (
    principal: string,
    envelopes: ReadonlyArray<LoggedEnvelope>
  ) => Effect.Effect<ReadonlyArray<Inbound>, EventLogError>
  /**
   * Records envelopes the runtime sent, in order. Writes from every session are
   * grouped into one transaction per round (group commit); the effect completes
   * when the transaction holding them is committed.
   */
  readonly recordOutbound: (envelopes: ReadonlyArray<LoggedEnvelope>) => Effect.Effect<void, EventLogError>
  /**
   * The envelopes the runtime sent answering message `id` (correlation_id = id) to sessions of
   * `principal`, in log order.
   */
  readonly answersTo: (principal: string, id: string) => Effect.Effect<ReadonlyArray<StoredEvent>, EventLogError>
  /**
   * The envelopes the runtime sent carrying `job_id` = `jobId` to sessions of `principal`, in log
   * order, one row per session it went to (so an envelope id may repeat: callers dedup by id).
   */
  readonly jobEvents: (principal: string, jobId: string) => Effect.Effect<ReadonlyArray<StoredEvent>, EventLogError>
  /**
   * Every envelope of a session after position `afterSeq` (0 = from the start), in order; nothing
   * when the session is not `principal`'s.
   */
  readonly replaySession: (
    principal: string,
    sessionId: string,
    afterSeq: number
  ) => Effect.Effect<ReadonlyArray<StoredEvent>, EventLogError>
  /**
   * Claims `(principal, key)` for a new job until `expiresAt` (epoch ms), storing
   * `digest` (what the command asked for) with it. An unexpired claim by an
   * earlier command wins and is returned with its digest; an expired one is replaced.
   */
  readonly claimIdempotencyKey: (
    claim: {
      readonly principal: string
      readonly key: string
      readonly job_id: string
      readonly digest: string
      readonly now: number
      readonly expiresAt: number
    }
  ) => Effect.Effect<Claim, EventLogError>
  /** Inserts or replaces a job record; completes once it is committed. */
  readonly saveJob: (job: JobRecord) => Effect.Effect<void, EventLogError>
  /**
   * Queues a job record write without waiting for its commit: for state
   * transitions nobody waits on. Writes of one job land in call order (with
   * `saveJob` too), and a later one in the same commit supersedes an earlier
   * one, so they cost little. A failed write is logged by the log.
   */
  readonly stageJob: (job: JobRecord) => Effect.Effect<void>
  readonly getJob: (jobId: string) => Effect.Effect<Option.Option<JobRecord>, EventLogError>
  /**
   * The job records with no terminal (jobs that never ended), oldest first: at startup, the jobs
   * an earlier runtime was running when it stopped. Reads what is committed.
   */
  readonly unfinishedJobs: Effect.Effect<ReadonlyArray<JobRecord>, EventLogError>
  /** Inserts or replaces a lease (§15.5); completes once it is committed. */
  readonly saveLease: (lease: LeaseRecord) => Effect.Effect<void, EventLogError>
  readonly getLease: (leaseId: string) => Effect.Effect<Option.Option<LeaseRecord>, EventLogError>
  /** The leases neither revoked nor expired at `now` (epoch ms), oldest first: what a restarted runtime re-arms. */
  readonly liveLeases: (now: number) => Effect.Effect<ReadonlyArray<LeaseRecord>, EventLogError>
  /** Inserts or replaces a durable session record (§9); completes once it is committed. */
  readonly saveSession: (session: SessionRecord) => Effect.Effect<void, EventLogError>
  readonly getSession: (sessionId: string) => Effect.Effect<Option.Option<SessionRecord>, EventLogError>
  /**
   * Makes `instanceId` the owner of unfinished job `jobId` if `previous` (undefined: none) still owns
   * it: true when this call took it. Two runtimes taking over one lost job: one wins (§4.3).
   */
  readonly claimJob: (
    jobId: string,
    previous: string | undefined,
    instanceId: string
  ) => Effect.Effect<boolean, EventLogError>
  /** Inserts or replaces a runtime instance record; completes once it is committed. */
  readonly saveInstance: (instance: InstanceRecord) => Effect.Effect<void, EventLogError>
  /** Every runtime instance that recorded itself, oldest first. */
  readonly instances: Effect.Effect<ReadonlyArray<InstanceRecord>, EventLogError>
  /**
   * Where message `messageId` sits in session `sessionId`'s events (its first row), when the
   * session is `principal`'s and holds it: what a `resume {after_message_id}` starts after (§19).
   */
  readonly positionOf: (
    principal: string,
    sessionId: string,
    messageId: string
  ) => Effect.Effect<Option.Option<StoredEvent>, EventLogError>
  /** The position of the last event recorded for session `sessionId` (0: none). */
  readonly lastPosition: (sessionId: string) => Effect.Effect<number, EventLogError>
}>() {}
