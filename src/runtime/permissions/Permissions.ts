/**
 * The permission challenge flow (RFC §15.4) and the lease lifecycle (§15.5):
 * a tool asks through its context; a covering lease answers at once, else the
 * policy grants, denies or asks the client with `permission.request` while the
 * job is blocked. `permission.grant` materializes a lease (`lease.granted`),
 * `permission.deny` or silence past the deadline fail the ask PERMISSION_DENIED.
 * Elevation (§15.6) is the synthetic `trust.elevate.<level>` permission.
 */
import { Clock, Context, Deferred, Duration, Effect, Layer, Option, Schema } from "effect"
import { make as makeEnvelope } from "../../protocol/Envelope.js"
import { ArcpError } from "../../protocol/Errors.js"
import { type MessageId, SessionId } from "../../protocol/Ids.js"
import type { Message } from "../../protocol/Message.js"
import { toMillis } from "../../protocol/Timestamp.js"
import { EventLog } from "../../store/EventLog.js"
import type { Emit } from "../HumanInput.js"
import type { Owner } from "../jobs/Job.js"
import { RuntimeConfig } from "../RuntimeConfig.js"
import { Sessions } from "../Sessions.js"
import { covers, type Holder, INHERITED_PREFIX, type Lease, type LeaseScope, make as makeLeases } from "./Leases.js"
import { ask as askClient, type PermissionDecision, PermissionPolicy } from "./PermissionPolicy.js"
import { elevationTarget, type TrustLevel } from "./Trust.js"

/** The job asking, as the permission flow needs it. */
export interface Requester {
  readonly principal: string
  readonly sessionId: string
  readonly jobId: string
  readonly tool: string
  readonly trustLevel: TrustLevel
  /** Emits an event of the job (to its session, or the log when detached). */
  readonly emit: Emit
  /** Moves the job to `blocked` while the client is asked, and back to `running` after. */
  readonly block: Effect.Effect<void>
  readonly unblock: Effect.Effect<void>
}

/** What a tool asks for (the `permission.request` payload). */
export interface Ask extends LeaseScope {
  readonly reason?: string | undefined
  readonly requestedLeaseSeconds?: number | undefined
}

interface Pending {
  readonly scope: LeaseScope
  readonly requester: Requester
  readonly requestedSeconds: number | undefined
  readonly answer: Deferred.Deferred<Lease, ArcpError>
}

/** The delegated job that inherits permissions (§14), and who passed them on. */
export interface Heir {
  readonly principal: string
  readonly sessionId: string
  readonly jobId: string
  readonly tool: string
  readonly trustLevel: TrustLevel
  readonly delegator: string
}

export class Permissions extends Context.Tag("arcp/Permissions")<Permissions, {
  /** A lease for `ask`: a covering one, the policy's grant, or the client's; PERMISSION_DENIED on deny or expiry. */
  readonly request: (requester: Requester, ask: Ask) => Effect.Effect<Lease, ArcpError>
  /** The lease when `principal` holds it live; PERMISSION_DENIED once expired or revoked (R15.5-1). */
  readonly check: (leaseId: string, principal: string) => Effect.Effect<Lease, ArcpError>
  /** The highest trust level a live `trust.elevate.<level>` lease of `principal` gives, if any (§15.6). */
  readonly elevation: (
    principal: string
  ) => Effect.Effect<Option.Option<{ readonly level: TrustLevel; readonly lease: Lease }>>
  /** `permission.grant` answering a pending request (correlation_id): the lease, `lease.granted`, the job resumes. */
  readonly grant: (
    message: Message<"permission.grant">,
    owner: Owner,
    sessionLeaseEnd: Effect.Effect<number>
  ) => Effect.Effect<void, ArcpError>
  /** `permission.deny`: the pending ask fails PERMISSION_DENIED with the reason. */
  readonly deny: (message: Message<"permission.deny">, owner: Owner) => Effect.Effect<void, ArcpError>
  /** `lease.refresh` → `lease.extended`, capped at the maximum lease; the refreshing session becomes the holder. */
  readonly refresh: (
    message: Message<"lease.refresh">,
    owner: Owner,
    sessionLeaseEnd: Effect.Effect<number>
  ) => Effect.Effect<void, ArcpError>
  /** Revokes a live lease (an operator's act): `lease.revoked` to its holder. NOT_FOUND when none lives. */
  readonly revoke: (leaseId: string, reason: string) => Effect.Effect<void, ArcpError>
  /**
   * Permissions a delegator passes on (§14 `permissions_inherited`), each granted as a lease bound to
   * the delegated job (any resource, any operation) when the credentials hold it or the policy grants
   * it at once; the rest (denied, or only to be asked) are refused. Revoke the leases when the job ends.
   */
  readonly inherit: (
    heir: Heir,
    permissions: ReadonlyArray<string>
  ) => Effect.Effect<{ readonly granted: ReadonlyArray<Lease>; readonly refused: ReadonlyArray<string> }>
}>() {}

/** Whether a held permission (`fs.read`, a prefix `fs.*`, or `*`) covers `permission`. */
export const heldCovers = (held: ReadonlyArray<string>, permission: string): boolean =>
  held.some((entry) =>
    entry === permission || entry === "*" || (entry.endsWith(".*") && permission.startsWith(entry.slice(0, -1)))
  )

const isSessionId = Schema.is(SessionId)

const denied = (message: string, details: Record<string, unknown>) =>
  ArcpError.of("PERMISSION_DENIED", message, { details })

/** Tells a session of a revoked lease through its own sink. */
const notifyOwner = (owner: Owner): Holder["notify"] => (payload) =>
  Effect.flatMap(makeEnvelope("lease.revoked", payload, { session_id: owner.sessionId }), owner.sink)

export const make = Effect.gen(function*() {
  const settings = yield* RuntimeConfig
  const log = yield* EventLog
  const policy = Option.getOrElse(yield* Effect.serviceOption(PermissionPolicy), () => askClient)
  const leases = yield* makeLeases(log)
  const sessions = yield* Effect.serviceOption(Sessions)
  /** The permissions the session's credentials hold without asking (an OAuth 2.0 token's scopes, §15). */
  const heldBy = (sessionId: string) =>
    Option.isNone(sessions) || !isSessionId(sessionId)
      ? Effect.succeed<ReadonlyArray<string>>([])
      : sessions.value.get(sessionId).pipe(
        Effect.flatMap(Option.match({
          onNone: () => Effect.succeed<ReadonlyArray<string>>([]),
          onSome: (session) => Effect.map(session.principal, (p) => p.permissions ?? [])
        }))
      )
  const pending = new Map<string, Pending>()
  const maxSeconds = Duration.toSeconds(settings.maxLeaseDuration)
  const seconds = (wanted: number | undefined) =>
    Math.max(1, Math.min(wanted ?? Duration.toSeconds(settings.defaultLeaseDuration), maxSeconds))

  /** §15.6: an elevation is audited with a `log` and a `metric` event of the job that asked. */
  const audit = Effect.fnUntraced(function*(requester: Requester, lease: Lease) {
    const to = elevationTarget(lease.permission)
    if (to === undefined) return
    yield* Effect.logInfo(`trust of ${requester.principal} elevated to ${to} under lease ${lease.lease_id}`)
    yield* requester.emit("log", {
      level: "info",
      message: `trust elevated from ${requester.trustLevel} to ${to} until ${lease.expires_at}`,
      attributes: { lease_id: lease.lease_id, principal: requester.principal, from: requester.trustLevel, to }
    })
    yield* requester.emit("metric", {
      name: "arcpx.arcp.trust.elevations",
      value: 1,
      unit: "count",
      dims: { from: requester.trustLevel, to }
    })
  })

  const revokedTo = (requester: Requester): Holder["notify"] => (payload) =>
    Effect.asVoid(requester.emit("lease.revoked", payload, { priority: "critical" }))

  /** The pending request a message answers, if it is `owner`'s: NOT_FOUND otherwise (another principal sees none). */
  const pendingFor = (correlationId: MessageId | undefined, owner: Owner, type: string) =>
    Effect.suspend(() => {
      if (correlationId === undefined) {
        return Effect.fail(ArcpError.of("INVALID_ARGUMENT", `${type} needs correlation_id = the permission.request id`))
      }
      const found = pending.get(correlationId)
      return found === undefined || found.requester.principal !== owner.principal
        ? Effect.fail(ArcpError.of("NOT_FOUND", `no pending permission request ${correlationId}`))
        : Effect.succeed([correlationId, found] as const)
    })

  const askTheClient = Effect.fnUntraced(function*(requester: Requester, ask: Ask) {
    const answer = yield* Deferred.make<Lease, ArcpError>()
    const scope = { permission: ask.permission, resource: ask.resource, operation: ask.operation }
    const id = yield* requester.emit("permission.request", {
      ...scope,
      ...(ask.reason !== undefined ? { reason: ask.reason } : {}),
      ...(ask.requestedLeaseSeconds !== undefined ? { requested_lease_seconds: ask.requestedLeaseSeconds } : {})
    }, { priority: "critical" })
    pending.set(id, { scope, requester, requestedSeconds: ask.requestedLeaseSeconds, answer })
    yield* requester.block
    const timeout = settings.permissionRequestTimeout
    const expire = Effect.gen(function*() {
      pending.delete(id)
      yield* requester.emit("log", {
        level: "warn",
        message: `permission.request ${id} expired unanswered after ${Duration.format(timeout)}`,
        attributes: { request_id: id, permission: ask.permission }
      })
      return yield* denied(`nobody answered the permission request for ${ask.permission} in time`, {
        request_id: id,
        reason: "expired"
      })
    })
    return yield* Deferred.await(answer).pipe(
      Effect.raceFirst(Effect.zipRight(Effect.sleep(timeout), expire)),
      Effect.ensuring(Effect.zipRight(Effect.sync(() => pending.delete(id)), requester.unblock))
    )
  })

  return Permissions.of({
    request: Effect.fnUntraced(function*(requester, ask) {
      if (ask.permission === "" || ask.resource === "" || ask.operation === "") {
        return yield* ArcpError.of(
          "INVALID_ARGUMENT",
          "a permission request names a permission, resource and operation"
        )
      }
      const wanted = ask.requestedLeaseSeconds
      if (wanted !== undefined && !(Number.isInteger(wanted) && wanted > 0)) {
        return yield* ArcpError.of("INVALID_ARGUMENT", "requested_lease_seconds must be a positive integer")
      }
      const covering = yield* leases.covering(requester.principal, ask, requester.jobId)
      if (Option.isSome(covering)) return covering.value
      const held = heldCovers(yield* heldBy(requester.sessionId), ask.permission)
      const decision: PermissionDecision = held ? { _tag: "Grant", grantedBy: "credentials" } : yield* policy.decide({
        principal: requester.principal,
        sessionId: requester.sessionId,
        jobId: requester.jobId,
        tool: requester.tool,
        trustLevel: requester.trustLevel,
        permission: ask.permission,
        resource: ask.resource,
        operation: ask.operation,
        reason: ask.reason,
        requestedLeaseSeconds: ask.requestedLeaseSeconds
      })
      switch (decision._tag) {
        case "Deny":
          return yield* denied(decision.reason, { permission: ask.permission, resource: ask.resource })
        case "Ask":
          return yield* askTheClient(requester, ask)
        case "Grant": {
          const lease = yield* leases.grant({
            ...ask,
            principal: requester.principal,
            sessionId: requester.sessionId,
            jobId: requester.jobId,
            grantedBy: decision.grantedBy,
            seconds: seconds(decision.leaseSeconds ?? ask.requestedLeaseSeconds),
            holder: { notify: revokedTo(requester) }
          })
          yield* requester.emit("lease.granted", lease)
          yield* audit(requester, lease)
          return lease
        }
      }
    }),

    check: leases.check,
    elevation: leases.elevation,

    grant: Effect.fnUntraced(function*(message, owner, sessionLeaseEnd) {
      const [id, request] = yield* pendingFor(message.correlation_id, owner, "permission.grant")
      const granted = message.payload
      if (!covers(granted, request.scope)) {
        return yield* ArcpError.of(
          "INVALID_ARGUMENT",
          `the grant (${granted.permission} on ${granted.resource} for ${granted.operation}) does not cover the request`
        )
      }
      const now = yield* Clock.currentTimeMillis
      const wanted = granted.expires_at !== undefined
        ? Math.floor((toMillis(granted.expires_at) - now) / 1000)
        : request.requestedSeconds
      if (wanted !== undefined && wanted < 1) {
        return yield* ArcpError.of("INVALID_ARGUMENT", "the grant's expires_at is not in the future")
      }
      // taken now: a second answer racing this one (another connection) finds nothing pending
      if (!pending.delete(id)) return yield* ArcpError.of("NOT_FOUND", `no pending permission request ${id}`)
      const lease = yield* leases.grant({
        permission: granted.permission,
        resource: granted.resource,
        operation: granted.operation,
        principal: owner.principal,
        sessionId: request.requester.sessionId,
        jobId: request.requester.jobId,
        grantedBy: granted.granted_by ?? owner.principal,
        seconds: seconds(wanted),
        holder: { notify: revokedTo(request.requester), sessionLeaseEnd }
      })
      // the grantor answers the grant (§15.5), on the job's channel
      yield* request.requester.emit("lease.granted", lease, { correlation_id: message.id })
      yield* audit(request.requester, lease)
      yield* Deferred.succeed(request.answer, lease)
    }),

    deny: Effect.fnUntraced(function*(message, owner) {
      const [id, request] = yield* pendingFor(message.correlation_id, owner, "permission.deny")
      pending.delete(id)
      yield* Deferred.fail(
        request.answer,
        denied(message.payload.reason, {
          permission: request.scope.permission,
          resource: request.scope.resource,
          request_id: id
        })
      )
    }),

    refresh: Effect.fnUntraced(function*(message, owner, sessionLeaseEnd) {
      const lease = yield* leases.refresh(
        message.payload.lease_id,
        owner.principal,
        seconds(message.payload.requested_seconds),
        { notify: notifyOwner(owner), sessionLeaseEnd }
      )
      yield* owner.sink(
        yield* makeEnvelope("lease.extended", { lease_id: lease.lease_id, expires_at: lease.expires_at }, {
          session_id: owner.sessionId,
          correlation_id: message.id
        })
      )
    }),

    revoke: leases.revoke,

    inherit: Effect.fnUntraced(function*(heir, asked) {
      const held = yield* heldBy(heir.sessionId)
      const granted: Array<Lease> = []
      const refused: Array<string> = []
      for (const permission of new Set(asked)) {
        const decision: PermissionDecision = heldCovers(held, permission)
          ? { _tag: "Grant" }
          : yield* policy.decide({
            principal: heir.principal,
            sessionId: heir.sessionId,
            jobId: heir.jobId,
            tool: heir.tool,
            trustLevel: heir.trustLevel,
            permission,
            resource: "*",
            operation: "*",
            reason: `inherited by delegation from ${heir.delegator}`
          })
        const lease = decision._tag !== "Grant" || permission === "" ? undefined : yield* Effect.option(leases.grant({
          permission,
          resource: "*",
          operation: "*",
          principal: heir.principal,
          sessionId: heir.sessionId,
          jobId: heir.jobId,
          grantedBy: `${INHERITED_PREFIX}${heir.delegator}`,
          seconds: seconds(decision.leaseSeconds),
          holder: {}
        }))
        if (lease !== undefined && Option.isSome(lease)) granted.push(lease.value)
        else refused.push(permission)
      }
      return { granted, refused }
    })
  })
})

/** The permission service; it uses the `PermissionPolicy` in context when there is one, else asks the client. */
export const layer: Layer.Layer<Permissions, never, RuntimeConfig | EventLog> = Layer.scoped(Permissions, make)
