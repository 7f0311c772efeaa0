/**
 * The durable record (RFC §6.4, §10.2): every envelope a session sends or
 * accepts, in order; inbound dedup by message id; logical idempotency keys;
 * and the job records. One contract, two backends (SQLite, memory).
 *
 * Positions: every recorded envelope gets a position, strictly increasing in
 * commit order, returned by `recordOutbound`. The read side is one paged query
 * (`read`: a filter, after a position, a limit). Each envelope is stored once,
 * under the session it was addressed to: a by-job read never repeats an id.
 *
 * Visibility: a session belongs to the principal under which its inbound
 * messages are recorded (its `session.open` is the first); each stored event
 * carries that owner. The log does not judge who may read what: the runtime's
 * `Feed` (runtime/events) is the one place that does, for every reader.
 */
import { Context, Effect, type Option, Schema } from "effect"

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

/**
 * The fields the log keeps of `envelope`, picked rather than spread: a spread copies the envelope's hidden class,
 * and each field added after it makes a new one, per envelope (issue 12).
 */
export const loggedOf = (
  envelope: Omit<LoggedEnvelope, "session_id" | "json">,
  sessionId: string,
  json: string
): LoggedEnvelope => ({
  id: envelope.id,
  type: envelope.type,
  session_id: sessionId,
  job_id: envelope.job_id,
  stream_id: envelope.stream_id,
  trace_id: envelope.trace_id,
  correlation_id: envelope.correlation_id,
  timestamp: envelope.timestamp,
  json
})

/** One stored row, with its position in the log (strictly increasing in commit order). */
export interface StoredEvent extends LoggedEnvelope {
  readonly position: number
  readonly direction: "in" | "out"
  /** The principal owning the row's session; absent for a session nobody opened. */
  readonly principal?: string | undefined
}

/**
 * The one read of envelopes: AND across the fields given, OR within one
 * (a list); rows after position `after` (exclusive, 0 = from the start), in
 * position order, at most `limit` (default and ceiling `MAX_PAGE`). A page
 * shorter than the limit is the last one.
 */
export interface EventQuery {
  /** Message ids (a subscription's `since.after_message_id` is looked up by its id). */
  readonly id?: ReadonlyArray<string> | undefined
  readonly session_id?: ReadonlyArray<string> | undefined
  readonly job_id?: ReadonlyArray<string> | undefined
  readonly stream_id?: ReadonlyArray<string> | undefined
  readonly trace_id?: ReadonlyArray<string> | undefined
  readonly correlation_id?: ReadonlyArray<string> | undefined
  readonly types?: ReadonlyArray<string> | undefined
  readonly direction?: "in" | "out" | undefined
  readonly after?: number | undefined
  readonly limit?: number | undefined
}

/** The largest page `read` returns. */
export const MAX_PAGE = 1000

/** The page size of a query: its limit, within 1..MAX_PAGE. */
export const pageSize = (query: EventQuery): number =>
  Math.max(1, Math.min(MAX_PAGE, Math.floor(query.limit ?? MAX_PAGE)))

/** Whether a row passes a query's field filters (not `after`/`limit`): the memory log's reading of `EventQuery`. */
export const matchesQuery = (query: EventQuery, e: StoredEvent): boolean =>
  within(query.id, e.id) && within(query.session_id, e.session_id) && within(query.job_id, e.job_id) &&
  within(query.stream_id, e.stream_id) && within(query.trace_id, e.trace_id) &&
  within(query.correlation_id, e.correlation_id) && within(query.types, e.type) &&
  (query.direction === undefined || query.direction === e.direction)

const within = (allowed: ReadonlyArray<string> | undefined, value: string | undefined) =>
  allowed === undefined || (value !== undefined && allowed.includes(value))

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
  /**
   * Its liveness lease (epoch ms): renewed with each heartbeat; once past, the instance counts as gone
   * wherever it runs. Absent: it does not heartbeat, and is judged by its recorded stop or its pid only.
   */
  readonly lease_until?: number | undefined
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

/**
 * One part of a mixed group (`recordGroup`), with the rules of its own operation: `Inbound` as
 * `recordInbound` (dedup, the first principal recorded owns the session), `Outbound` as `recordOutbound`,
 * `SaveSession` as `saveSession`. `ReleaseSession` writes a record as a connection lets the session go:
 * its `last_position` is taken from the log at the commit (the last event recorded for the session, parts
 * before it in the group included), and a stored record already `closed` is left as it is (closed for good).
 */
export type GroupPart =
  | { readonly _tag: "Inbound"; readonly principal: string; readonly envelopes: ReadonlyArray<LoggedEnvelope> }
  | { readonly _tag: "Outbound"; readonly envelopes: ReadonlyArray<LoggedEnvelope> }
  | { readonly _tag: "SaveSession"; readonly session: SessionRecord }
  | { readonly _tag: "ReleaseSession"; readonly session: SessionRecord }

/** What a group got: the verdicts of its inbound envelopes and the positions of its outbound ones, each in order. */
export interface GroupRecorded {
  readonly verdicts: ReadonlyArray<Inbound>
  readonly positions: ReadonlyArray<number>
}

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
   * `recordInbound` with the same verdicts, known at once, and the write staged instead of committed
   * before returning: it commits no later than any write made after it (so before any answer to these
   * envelopes is sent, and usually in the same commit as their first answer). A log with one writer
   * that can tell the verdict without committing (SQLite) has it; the others record as `recordInbound`.
   */
  readonly stageInbound?: (
    principal: string,
    envelopes: ReadonlyArray<LoggedEnvelope>
  ) => Effect.Effect<ReadonlyArray<Inbound>, EventLogError>
  /**
   * Records envelopes the runtime sent, in order, and returns their positions.
   * Writes from every session are grouped into one transaction per round
   * (group commit); the effect completes when the transaction holding them is
   * committed. Record through the runtime's `Recorder`, which then publishes them.
   */
  readonly recordOutbound: (
    envelopes: ReadonlyArray<LoggedEnvelope>
  ) => Effect.Effect<ReadonlyArray<number>, EventLogError>
  /**
   * Commits a mixed group in one transaction, its parts in order (positions follow it): what a handshake
   * writes at once (its inbound transcript, the durable session record and `session.accepted`), or a
   * session's last envelopes with its release. Completes once committed, like the other writes.
   */
  readonly recordGroup: (parts: ReadonlyArray<GroupPart>) => Effect.Effect<GroupRecorded, EventLogError>
  /** One page of recorded envelopes (see `EventQuery`); nothing is checked against a reader here. */
  readonly read: (query: EventQuery) => Effect.Effect<ReadonlyArray<StoredEvent>, EventLogError>
  /** The position of the last committed envelope (0 when none). */
  readonly head: Effect.Effect<number, EventLogError>
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
   * one, so they cost little. It commits no later than any write made after it
   * (usually in the same commit). A failed write is logged by the log.
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
   * The sessions instance `instanceId` holds ("attached") become "detached", resumable until
   * `resumeUntil` (epoch ms): what a runtime taking over a gone instance does for its sessions. One
   * conditional update, so a session a connection took back meanwhile is left alone. Returns how many.
   */
  readonly detachSessions: (
    instanceId: string,
    resumeUntil: number,
    now: number
  ) => Effect.Effect<number, EventLogError>
  /**
   * Where message `messageId` sits in session `sessionId`'s events (its first row): what a
   * `resume {after_message_id}` starts after (§19). Who may ask is the runtime's to judge.
   */
  readonly positionOf: (
    sessionId: string,
    messageId: string
  ) => Effect.Effect<Option.Option<StoredEvent>, EventLogError>
  /** The position of the last event recorded for session `sessionId` (0: none). */
  readonly lastPosition: (sessionId: string) => Effect.Effect<number, EventLogError>
  /**
   * Deletes what the log keeps past its retention (`LogRetention` runs it), at most `limit` events a
   * call, and returns how many events went (call again while that is `limit`). See `Prune`.
   */
  readonly prune: (prune: Prune) => Effect.Effect<number, EventLogError>
}>() {}

/**
 * One pass of the log's retention. Goes: the events at positions up to `through`, but never the log's
 * last one (positions keep counting up from it), nor any of a job that has not ended (a restart resumes
 * it from them), nor the command that started one; with them the dedup ids of the inbound ones. Then, of
 * the jobs and sessions those events were of, each with no event left: an ended job's record, unless an
 * idempotency claim unexpired at `now` still names it; a session's record once it is closed, or detached
 * and past its `resume_until`, and its owner unless an active schedule fires into it. Expired
 * idempotency claims go too (with their ended job when it has no event left), and leases that expired
 * before `before`.
 */
export interface Prune {
  readonly through: number
  readonly before: number
  readonly now: number
  readonly limit: number
}

/**
 * Every row of a query, reading page after page (for the runtime's own
 * bounded reads and tests; readers that page at their own pace use `Feed`).
 */
export const readAll = Effect.fnUntraced(function*(
  log: Context.Tag.Service<typeof EventLog>,
  query: EventQuery
) {
  const rows: Array<StoredEvent> = []
  let after = query.after ?? 0
  while (true) {
    const page = yield* log.read({ ...query, after, limit: MAX_PAGE })
    rows.push(...page)
    const last = page[page.length - 1]
    if (last === undefined || page.length < MAX_PAGE) return rows
    after = last.position
  }
})
