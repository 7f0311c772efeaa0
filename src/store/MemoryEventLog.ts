/** The event log in memory: the test double of the `EventLog` contract (nothing survives the process). */
import { Effect, Layer, Option } from "effect"
import {
  EventLog,
  type GroupPart,
  type GroupRecorded,
  type Inbound,
  type InstanceRecord,
  type JobRecord,
  type LeaseRecord,
  type LoggedEnvelope,
  matchesQuery,
  pageSize,
  type Prune,
  type SessionRecord,
  type StoredEvent
} from "./EventLog.js"
import * as MemoryScheduleStore from "./MemoryScheduleStore.js"
import { type ScheduleRecord, ScheduleStore } from "./ScheduleStore.js"

/**
 * The log; `scheduled` tells whether an active schedule fires into a session (its owner then stays through the
 * retention: the firings' events are recorded as that session's).
 */
export const makeWith = (scheduled: (sessionId: string) => boolean = () => false) =>
  Effect.sync(() => {
    // in position order; positions count on from `last` when the oldest are pruned
    let events: Array<Omit<StoredEvent, "principal">> = []
    let last = 0
    // how many events each session and job has in the log: what the retention asks of what is left
    const perSession = new Map<string, number>()
    const perJob = new Map<string, number>()
    const count = (counts: Map<string, number>, key: string | undefined, by: number) => {
      if (key === undefined) return
      const n = (counts.get(key) ?? 0) + by
      if (n === 0) counts.delete(key)
      else counts.set(key, n)
    }
    const inbound = new Set<string>()
    // session id -> its principal: set by the first inbound envelope of the session
    const owners = new Map<string, string>()
    const claims = new Map<string, { readonly job_id: string; readonly digest: string; readonly expiresAt: number }>()
    const jobs = new Map<string, JobRecord>()
    const leases = new Map<string, LeaseRecord>()
    const sessions = new Map<string, SessionRecord>()
    const instances = new Map<string, InstanceRecord>()
    const append = (envelope: LoggedEnvelope, direction: "in" | "out") => {
      const position = ++last
      count(perSession, envelope.session_id, 1)
      count(perJob, envelope.job_id, 1)
      // fields picked, not spread: a spread with fields added after it makes hidden classes per event (issue 12)
      events.push({
        id: envelope.id,
        type: envelope.type,
        session_id: envelope.session_id,
        job_id: envelope.job_id,
        stream_id: envelope.stream_id,
        trace_id: envelope.trace_id,
        correlation_id: envelope.correlation_id,
        timestamp: envelope.timestamp,
        json: envelope.json,
        direction,
        position
      })
      return position
    }
    const withOwner = (e: Omit<StoredEvent, "principal">): StoredEvent => ({
      ...e,
      principal: owners.get(e.session_id)
    })
    const saveJob = (job: JobRecord) =>
      Effect.sync(() => {
        jobs.set(job.job_id, job)
      })

    const recordInbound = (principal: string, envelopes: ReadonlyArray<LoggedEnvelope>): Array<Inbound> =>
      envelopes.map((envelope) => {
        const key = `${principal}\u0000${envelope.id}`
        if (!owners.has(envelope.session_id)) owners.set(envelope.session_id, principal)
        if (inbound.has(key)) return { _tag: "Duplicate" } as const
        inbound.add(key)
        append(envelope, "in")
        return { _tag: "New" } as const
      })
    const lastPosition = (sessionId: string) => {
      for (let i = events.length - 1; i >= 0; i--) {
        const e = events[i]
        if (e?.session_id === sessionId) return e.position
      }
      return 0
    }
    /** The index of the first event after position `after` (events are in position order). */
    const firstAfter = (after: number) => {
      let lo = 0
      let hi = events.length
      while (lo < hi) {
        const mid = (lo + hi) >>> 1
        if ((events[mid]?.position ?? 0) <= after) lo = mid + 1
        else hi = mid
      }
      return lo
    }
    const prune = (p: Prune): number => {
      const running = new Set<string>()
      for (const j of jobs.values()) if (j.terminal === undefined) running.add(j.command_id)
      // the front of the log up to `through`: what goes, and what stays of it
      const kept: Array<Omit<StoredEvent, "principal">> = []
      const jobIds = new Set<string>()
      const sessionIds = new Set<string>()
      let gone = 0
      let scanned = 0
      for (; scanned < events.length; scanned++) {
        const e = events[scanned]
        if (e === undefined || gone >= p.limit || e.position > p.through || e.position >= last) break
        const job = e.job_id === undefined ? undefined : jobs.get(e.job_id)
        const command = e.direction === "in" && running.has(e.id)
        if ((job !== undefined && job.terminal === undefined) || command) {
          kept.push(e)
          continue
        }
        gone++
        const owner = owners.get(e.session_id)
        if (e.direction === "in" && owner !== undefined) inbound.delete(`${owner}\u0000${e.id}`)
        count(perSession, e.session_id, -1)
        count(perJob, e.job_id, -1)
        if (e.job_id !== undefined) jobIds.add(e.job_id)
        sessionIds.add(e.session_id)
      }
      if (gone > 0) events = kept.concat(events.slice(scanned))
      let expired = 0
      for (const [key, claim] of claims) {
        if (expired >= p.limit) break
        if (claim.expiresAt > p.now) continue
        claims.delete(key)
        jobIds.add(claim.job_id)
        expired++
      }
      for (const id of jobIds) {
        const job = jobs.get(id)
        if (job === undefined || job.terminal === undefined || perJob.has(id)) continue
        const claim = job.idempotency_key === undefined
          ? undefined
          : claims.get(`${job.principal}\u0000${job.idempotency_key}`)
        if (claim === undefined || claim.job_id !== id || claim.expiresAt <= p.now) jobs.delete(id)
      }
      for (const id of sessionIds) {
        if (perSession.has(id)) continue
        const record = sessions.get(id)
        if (record?.state === "closed" || (record?.state === "detached" && (record.resume_until ?? 0) <= p.now)) {
          sessions.delete(id)
        }
        if (!sessions.has(id) && !scheduled(id)) owners.delete(id)
      }
      for (const [id, lease] of leases) if (lease.expires_at < p.before) leases.delete(id)
      return gone
    }
    const recordGroup = (parts: ReadonlyArray<GroupPart>): GroupRecorded => {
      const verdicts: Array<Inbound> = []
      const positions: Array<number> = []
      for (const part of parts) {
        switch (part._tag) {
          case "Inbound":
            verdicts.push(...recordInbound(part.principal, part.envelopes))
            break
          case "Outbound":
            for (const e of part.envelopes) positions.push(append(e, "out"))
            break
          case "SaveSession":
            sessions.set(part.session.session_id, part.session)
            break
          case "ReleaseSession": {
            const id = part.session.session_id
            // a closed record stays closed; the last position is the log's at the commit
            if (sessions.get(id)?.state === "closed") break
            sessions.set(id, { ...part.session, last_position: lastPosition(id) })
            break
          }
        }
      }
      return { verdicts, positions }
    }

    return EventLog.of({
      recordInbound: (principal, envelopes) => Effect.sync(() => recordInbound(principal, envelopes)),
      recordOutbound: (envelopes) => Effect.sync(() => envelopes.map((e) => append(e, "out"))),
      recordGroup: (parts) => Effect.sync(() => recordGroup(parts)),
      read: (query) =>
        Effect.sync(() => {
          const page: Array<StoredEvent> = []
          const limit = pageSize(query)
          for (let i = firstAfter(query.after ?? 0); i < events.length && page.length < limit; i++) {
            const e = events[i]
            if (e === undefined) continue
            const row = withOwner(e)
            if (matchesQuery(query, row)) page.push(row)
          }
          return page
        }),
      head: Effect.sync(() => last),
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
      detachSessions: (instanceId, resumeUntil, now) =>
        Effect.sync(() => {
          let count = 0
          for (const s of sessions.values()) {
            if (s.instance_id !== instanceId || s.state !== "attached") continue
            sessions.set(s.session_id, { ...s, state: "detached", resume_until: resumeUntil, updated_at: now })
            count++
          }
          return count
        }),
      positionOf: (sessionId, messageId) =>
        Effect.sync(() => {
          const found = events.find((e) => e.session_id === sessionId && e.id === messageId)
          return found === undefined ? Option.none() : Option.some(withOwner(found))
        }),
      lastPosition: (sessionId) => Effect.sync(() => lastPosition(sessionId)),
      prune: (p) => Effect.sync(() => prune(p))
    })
  })

export const make = makeWith()

/** A fresh, empty in-memory log, with an in-memory schedule store beside it. */
export const layer: Layer.Layer<EventLog | ScheduleStore> = Layer.unwrapEffect(Effect.sync(() => {
  const schedules = new Map<string, ScheduleRecord>()
  return Layer.merge(
    Layer.effect(EventLog, makeWith((id) => MemoryScheduleStore.schedulesInto(schedules, id))),
    Layer.succeed(ScheduleStore, MemoryScheduleStore.over(schedules))
  )
}))
