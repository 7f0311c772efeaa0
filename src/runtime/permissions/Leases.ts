/**
 * Leases (RFC §15.5): the materialized grants a principal holds. Each is
 * stored in the event log (so it outlives a dropped connection and a restart),
 * indexed in memory while it lives, and watched by one timer fiber that ends
 * it at `expires_at` — or revokes it once the session lease it was granted
 * under has ended without renewal.
 */
import { Clock, type Context, Duration, Effect, FiberMap, Option } from "effect"
import { ArcpError } from "../../protocol/Errors.js"
import { LeaseId, makeLeaseId } from "../../protocol/Ids.js"
import type { LeaseGranted } from "../../protocol/messages/Permissions.js"
import { fromMillis } from "../../protocol/Timestamp.js"
import type { EventLog, EventLogError, LeaseRecord } from "../../store/EventLog.js"
import { elevationTarget, levels, type TrustLevel } from "./Trust.js"

/** What a lease covers. */
export interface LeaseScope {
  readonly permission: string
  readonly resource: string
  readonly operation: string
}

/** A lease as tools and clients see it: the `lease.granted` payload. */
export type Lease = typeof LeaseGranted.Type

/** Tells the holder its lease was revoked (`lease.revoked`). */
export type Notify = (payload: { readonly lease_id: LeaseId; readonly reason: string }) => Effect.Effect<void>

/** Where a lease's holder is: whom to tell of a revocation, and the session lease bounding it (epoch ms). */
export interface Holder {
  readonly notify?: Notify | undefined
  readonly sessionLeaseEnd?: Effect.Effect<number> | undefined
}

/**
 * True when a lease of `granted` covers `wanted`: same permission, the same operation (or `*`, any),
 * and the same resource or a pattern ending in `*` that prefixes it (`order:*`, `*`).
 */
export const covers = (granted: LeaseScope, wanted: LeaseScope): boolean =>
  granted.permission === wanted.permission &&
  (granted.operation === wanted.operation || granted.operation === "*") &&
  (granted.resource === wanted.resource ||
    (granted.resource.endsWith("*") && wanted.resource.startsWith(granted.resource.slice(0, -1))))

export const toLease = (record: LeaseRecord): Lease => ({
  lease_id: LeaseId.make(record.lease_id),
  permission: record.permission,
  resource: record.resource,
  operation: record.operation,
  expires_at: fromMillis(record.expires_at)
})

/**
 * `granted_by` of a lease inherited through delegation (§14): such a lease is bound to its job and
 * covers nothing else the principal does (the binding is read back from the stored record).
 */
export const INHERITED_PREFIX = "delegation:"

/** True when `record` may answer a request of job `jobId`: any lease, except one bound to another job. */
const usableBy = (record: LeaseRecord, jobId: string | undefined): boolean =>
  record.granted_by?.startsWith(INHERITED_PREFIX) !== true || record.job_id === jobId

/** Most live leases one principal may hold: the index is in memory. */
export const MAX_LEASES = 1000

interface Held {
  record: LeaseRecord
  holder: Holder
}

const unavailable = (e: EventLogError) => ArcpError.of("UNAVAILABLE", `cannot record the lease: ${e.message}`)
const denied = (message: string, leaseId: string) =>
  ArcpError.of("PERMISSION_DENIED", message, { details: { lease_id: leaseId } })

export const make = Effect.fnUntraced(function*(log: Context.Tag.Service<typeof EventLog>) {
  const live = new Map<string, Held>()
  const timers = yield* FiberMap.make<string>()

  const save = (record: LeaseRecord) => log.saveLease(record).pipe(Effect.mapError(unavailable))

  /** Ends a live lease with `reason`: stored as revoked, the holder told. */
  const revokeHeld = Effect.fnUntraced(function*(held: Held, reason: string) {
    live.delete(held.record.lease_id)
    held.record = { ...held.record, revoked: reason }
    yield* save(held.record).pipe(Effect.catchAll((e) => Effect.logError("cannot record a revocation", e)))
    yield* Effect.logInfo(`lease ${held.record.lease_id} revoked: ${reason}`)
    if (held.holder.notify !== undefined) {
      yield* held.holder.notify({ lease_id: LeaseId.make(held.record.lease_id), reason })
    }
  })

  /** The lease's timer: expiry at expires_at, revocation when the bounding session lease ends unrenewed. */
  const watch = Effect.fnUntraced(function*(held: Held) {
    while (live.get(held.record.lease_id) === held) {
      const now = yield* Clock.currentTimeMillis
      const sessionEnd = held.holder.sessionLeaseEnd === undefined
        ? Number.POSITIVE_INFINITY
        : yield* held.holder.sessionLeaseEnd
      if (now >= held.record.expires_at) {
        live.delete(held.record.lease_id)
        return yield* Effect.logInfo(`lease ${held.record.lease_id} expired`)
      }
      if (now >= sessionEnd) return yield* revokeHeld(held, "the session's lease ended")
      yield* Effect.sleep(Duration.millis(Math.min(held.record.expires_at, sessionEnd) - now))
    }
  })

  const arm = (held: Held) => FiberMap.run(timers, held.record.lease_id, watch(held)).pipe(Effect.asVoid)

  // leases a previous run granted are live again, their timers re-armed (nobody to notify until a refresh)
  const stored = yield* log.liveLeases(yield* Clock.currentTimeMillis).pipe(
    Effect.catchAll((e) => Effect.as(Effect.logError("cannot read the stored leases", e), []))
  )
  for (const record of stored) {
    const held: Held = { record, holder: {} }
    live.set(record.lease_id, held)
    yield* arm(held)
  }

  /** The live lease `leaseId` of `principal`, or why there is none: NOT_FOUND (unknown) or PERMISSION_DENIED (ended). */
  const lookup = Effect.fnUntraced(function*(leaseId: string, principal: string) {
    const now = yield* Clock.currentTimeMillis
    const held = live.get(leaseId)
    if (held !== undefined && held.record.principal === principal && held.record.expires_at > now) return held
    const record = held?.record ??
      Option.getOrUndefined(yield* log.getLease(leaseId).pipe(Effect.orElseSucceed(Option.none)))
    if (record === undefined || record.principal !== principal) {
      return yield* ArcpError.of("NOT_FOUND", `no lease ${leaseId}`)
    }
    return yield* record.revoked !== undefined
      ? denied(`lease ${leaseId} was revoked: ${record.revoked}`, leaseId)
      : denied(`lease ${leaseId} expired at ${fromMillis(record.expires_at)}`, leaseId)
  })

  return {
    /** Creates, stores and arms a lease of `seconds`. */
    grant: Effect.fnUntraced(function*(
      input: LeaseScope & {
        readonly principal: string
        readonly sessionId: string
        readonly jobId?: string | undefined
        readonly grantedBy?: string | undefined
        readonly seconds: number
        readonly holder: Holder
      }
    ) {
      let holding = 0
      for (const l of live.values()) if (l.record.principal === input.principal) holding++
      if (holding >= MAX_LEASES) {
        return yield* ArcpError.of(
          "RESOURCE_EXHAUSTED",
          `${input.principal} already holds ${MAX_LEASES} live leases; let some expire or revoke them first`
        )
      }
      const now = yield* Clock.currentTimeMillis
      const record: LeaseRecord = {
        lease_id: yield* makeLeaseId,
        principal: input.principal,
        session_id: input.sessionId,
        ...(input.jobId !== undefined ? { job_id: input.jobId } : {}),
        permission: input.permission,
        resource: input.resource,
        operation: input.operation,
        ...(input.grantedBy !== undefined ? { granted_by: input.grantedBy } : {}),
        expires_at: now + input.seconds * 1000,
        created_at: now
      }
      yield* save(record)
      const held: Held = { record, holder: input.holder }
      live.set(record.lease_id, held)
      yield* arm(held)
      return toLease(record)
    }),

    /** A live lease of `principal` covering `wanted` that job `jobId` may use, if any. */
    covering: (principal: string, wanted: LeaseScope, jobId?: string): Effect.Effect<Option.Option<Lease>> =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        for (const { record } of live.values()) {
          if (
            record.principal === principal && record.expires_at > now && covers(record, wanted) &&
            usableBy(record, jobId)
          ) {
            return Option.some(toLease(record))
          }
        }
        return Option.none()
      }),

    /** The highest level `principal` is elevated to by a live `trust.elevate.<level>` lease, with that lease. */
    elevation: (
      principal: string
    ): Effect.Effect<Option.Option<{ readonly level: TrustLevel; readonly lease: Lease }>> =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        let best: { readonly level: TrustLevel; readonly lease: Lease } | undefined
        for (const { record } of live.values()) {
          const level = elevationTarget(record.permission)
          // an inherited lease is its job's alone: it elevates nobody
          if (level === undefined || record.principal !== principal || record.expires_at <= now) continue
          if (!usableBy(record, undefined)) continue
          if (best === undefined || levels.indexOf(level) > levels.indexOf(best.level)) {
            best = { level, lease: toLease(record) }
          }
        }
        return Option.fromNullable(best)
      }),

    /** The lease, if `principal` holds it and it is live; PERMISSION_DENIED once expired or revoked (R15.5-1). */
    check: (leaseId: string, principal: string): Effect.Effect<Lease, ArcpError> =>
      Effect.map(
        Effect.catchIf(lookup(leaseId, principal), (e) =>
          e.code === "NOT_FOUND", () =>
          denied(`no lease ${leaseId} is held`, leaseId)),
        (held) =>
          toLease(held.record)
      ),

    /** Extends a live lease to now + `seconds` (never shortens it); the holder becomes `holder`. */
    refresh: Effect.fnUntraced(function*(leaseId: string, principal: string, seconds: number, holder: Holder) {
      const held = yield* lookup(leaseId, principal)
      const now = yield* Clock.currentTimeMillis
      held.record = { ...held.record, expires_at: Math.max(held.record.expires_at, now + seconds * 1000) }
      held.holder = { notify: holder.notify ?? held.holder.notify, sessionLeaseEnd: holder.sessionLeaseEnd }
      yield* save(held.record)
      yield* arm(held)
      return toLease(held.record)
    }),

    /** Revokes a live lease (an operator's call); NOT_FOUND when no such lease lives. */
    revoke: (leaseId: string, reason: string): Effect.Effect<void, ArcpError> =>
      Effect.suspend(() => {
        const held = live.get(leaseId)
        if (held === undefined) return Effect.fail(ArcpError.of("NOT_FOUND", `no live lease ${leaseId}`))
        return Effect.zipRight(FiberMap.remove(timers, leaseId), revokeHeld(held, reason))
      }),

    /** Every live lease, for operators. */
    list: Effect.sync(() => [...live.values()].map((h) => h.record))
  }
})

export type Leases = Effect.Effect.Success<ReturnType<typeof make>>
