/** The event log in memory: the test double of the `EventLog` contract (nothing survives the process). */
import { Effect, Layer, Option } from "effect"
import {
  EventLog,
  type InstanceRecord,
  type JobRecord,
  type LeaseRecord,
  type SessionRecord,
  type StoredEvent
} from "./EventLog.js"
import * as MemoryScheduleStore from "./MemoryScheduleStore.js"
import type { ScheduleStore } from "./ScheduleStore.js"

export const make = Effect.sync(() => {
  const events: Array<StoredEvent> = []
  const inbound = new Set<string>()
  // session id -> its principal: set by the first inbound envelope of the session
  const owners = new Map<string, string>()
  const visible = (principal: string) => (e: StoredEvent) => owners.get(e.session_id) === principal
  const claims = new Map<string, { readonly job_id: string; readonly digest: string; readonly expiresAt: number }>()
  const jobs = new Map<string, JobRecord>()
  const leases = new Map<string, LeaseRecord>()
  const sessions = new Map<string, SessionRecord>()
  const instances = new Map<string, InstanceRecord>()
  const append = (envelope: Omit<StoredEvent, "seq">) => events.push({ ...envelope, seq: events.length + 1 })
  const saveJob = (job: JobRecord) =>
    Effect.sync(() => {
      jobs.set(job.job_id, job)
    })

  return EventLog.of({
    recordInbound: (principal, envelopes) =>
      Effect.sync(() =>
        envelopes.map((envelope) => {
          const key = `${principal}\u0000${envelope.id}`
          if (!owners.has(envelope.session_id)) owners.set(envelope.session_id, principal)
          if (inbound.has(key)) return { _tag: "Duplicate" } as const
          inbound.add(key)
          append({ ...envelope, direction: "in" })
          return { _tag: "New" } as const
        })
      ),
    recordOutbound: (envelopes) =>
      Effect.sync(() => {
        for (const e of envelopes) append({ ...e, direction: "out" })
      }),
    answersTo: (principal, id) =>
      Effect.sync(() =>
        events.filter((e) => e.direction === "out" && e.correlation_id === id).filter(visible(principal))
      ),
    jobEvents: (principal, jobId) =>
      Effect.sync(() => events.filter((e) => e.direction === "out" && e.job_id === jobId).filter(visible(principal))),
    replaySession: (principal, sessionId, afterSeq) =>
      Effect.sync(() =>
        owners.get(sessionId) === principal ? events.filter((e) => e.session_id === sessionId && e.seq > afterSeq) : []
      ),
    claimIdempotencyKey: ({ digest, expiresAt, job_id, key, now, principal }) =>
      Effect.sync(() => {
        const k = `${principal}\u0000${key}`
        const held = claims.get(k)
        if (held !== undefined && held.expiresAt > now) {
          return { _tag: "Existing", job_id: held.job_id, digest: held.digest } as const
        }
        claims.set(k, { job_id, digest, expiresAt })
        return { _tag: "Claimed" } as const
      }),
    saveJob,
    // nothing to batch in memory: a staged write is a write
    stageJob: saveJob,
    getJob: (jobId) => Effect.sync(() => Option.fromNullable(jobs.get(jobId))),
    unfinishedJobs: Effect.sync(() =>
      [...jobs.values()].filter((j) => j.terminal === undefined)
        .sort((a, b) => a.created_at - b.created_at || (a.job_id < b.job_id ? -1 : a.job_id > b.job_id ? 1 : 0))
    ),
    saveLease: (lease) =>
      Effect.sync(() => {
        leases.set(lease.lease_id, lease)
      }),
    getLease: (leaseId) => Effect.sync(() => Option.fromNullable(leases.get(leaseId))),
    liveLeases: (now) =>
      Effect.sync(() =>
        [...leases.values()].filter((l) => l.revoked === undefined && l.expires_at > now)
          .sort((a, b) => a.created_at - b.created_at || (a.lease_id < b.lease_id ? -1 : 1))
      ),
    saveSession: (session) =>
      Effect.sync(() => {
        sessions.set(session.session_id, session)
      }),
    getSession: (sessionId) => Effect.sync(() => Option.fromNullable(sessions.get(sessionId))),
    claimJob: (jobId, previous, instanceId) =>
      Effect.sync(() => {
        const record = jobs.get(jobId)
        if (record === undefined || record.terminal !== undefined || record.instance_id !== previous) return false
        jobs.set(jobId, { ...record, instance_id: instanceId })
        return true
      }),
    saveInstance: (instance) =>
      Effect.sync(() => {
        instances.set(instance.instance_id, instance)
      }),
    instances: Effect.sync(() => [...instances.values()].sort((a, b) => a.started_at - b.started_at)),
    positionOf: (principal, sessionId, messageId) =>
      Effect.sync(() =>
        Option.fromNullable(
          events.find((e) => e.session_id === sessionId && e.id === messageId && visible(principal)(e))
        )
      ),
    lastPosition: (sessionId) =>
      Effect.sync(() => {
        for (let i = events.length - 1; i >= 0; i--) if (events[i]?.session_id === sessionId) return events[i]?.seq ?? 0
        return 0
      })
  })
})

/** A fresh, empty in-memory log, with an in-memory schedule store beside it. */
export const layer: Layer.Layer<EventLog | ScheduleStore> = Layer.merge(
  Layer.effect(EventLog, make),
  MemoryScheduleStore.layer
)
