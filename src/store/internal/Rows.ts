/**
 * The rows of the event log's tables as both SQL backends read them, and the records they become
 * (nullable columns become absent fields, as the records were written).
 */
import { Schema } from "effect"
import type { InstanceRecord, JobRecord, LeaseRecord, SessionRecord, StoredEvent } from "../EventLog.js"

const Nullable = Schema.NullOr(Schema.String)
export const EventRow = Schema.Struct({
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
export const JobRow = Schema.Struct({
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

export const SessionRow = Schema.Struct({
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

export const InstanceRow = Schema.Struct({
  instance_id: Schema.String,
  host: Schema.String,
  pid: Schema.Number,
  started_at: Schema.Number,
  heartbeat_at: Schema.Number,
  stopped_at: Schema.NullOr(Schema.Number),
  lease_until: Schema.NullOr(Schema.Number)
})

export const LeaseRow = Schema.Struct({
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
export const toLease = ({ granted_by, job_id, revoked, ...rest }: typeof LeaseRow.Type): LeaseRecord => ({
  ...rest,
  ...(job_id !== null ? { job_id } : {}),
  ...(granted_by !== null ? { granted_by } : {}),
  ...(revoked !== null ? { revoked } : {})
})

const orUndefined = (v: string | null): string | undefined => v ?? undefined

export const toStored = (r: typeof EventRow.Type): StoredEvent => ({
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
export const toJob = (
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

export const toSession = ({ resume_until, trust_level, ...rest }: typeof SessionRow.Type): SessionRecord => ({
  ...rest,
  ...(trust_level !== null ? { trust_level } : {}),
  ...(resume_until !== null ? { resume_until } : {})
})

export const toInstance = ({ lease_until, stopped_at, ...rest }: typeof InstanceRow.Type): InstanceRecord => ({
  ...rest,
  ...(stopped_at !== null ? { stopped_at } : {}),
  ...(lease_until !== null ? { lease_until } : {})
})

/** A column value as both SQL drivers bind it (absent fields are NULL). */
export type Column = string | number | null

/** A job record as the `jobs` table's columns, in the order both writers' statements name them. */
export const jobColumns = (j: JobRecord): Array<Column> => [
  j.job_id,
  j.session_id,
  j.principal,
  j.tool,
  j.command_id,
  j.state,
  j.checkpoint_id ?? null,
  j.retry_count,
  j.cancel_reason ?? null,
  j.idempotency_key ?? null,
  j.terminal ?? null,
  j.created_at,
  j.updated_at,
  j.instance_id ?? null,
  j.arguments ?? null
]

/** A session record as the `durable_sessions` table's columns, in statement order. */
export const sessionColumns = (r: SessionRecord): Array<Column> => [
  r.session_id,
  r.principal,
  r.capabilities,
  r.lease_expires_at,
  r.last_position,
  r.state,
  r.resume_until ?? null,
  r.instance_id,
  r.trust_level ?? null,
  r.created_at,
  r.updated_at
]

/** An instance record as the `runtime_instances` table's columns, in statement order. */
export const instanceColumns = (i: InstanceRecord): Array<Column> => [
  i.instance_id,
  i.host,
  i.pid,
  i.started_at,
  i.heartbeat_at,
  i.stopped_at ?? null,
  i.lease_until ?? null
]

/** A lease record as the `leases` table's columns, in statement order. */
export const leaseColumns = (l: LeaseRecord): Array<Column> => [
  l.lease_id,
  l.principal,
  l.session_id,
  l.job_id ?? null,
  l.permission,
  l.resource,
  l.operation,
  l.granted_by ?? null,
  l.expires_at,
  l.revoked ?? null,
  l.created_at
]
