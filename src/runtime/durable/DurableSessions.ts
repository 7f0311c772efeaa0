/**
 * Durable sessions (RFC §9, §19): a session outlives its connection for the
 * resume window. Its record (principal, negotiated capabilities, lease, trust
 * level, last position) is kept in the store, so a client can take it back
 * with its `session_id` — also after a restart — and only its own principal can.
 */
import { Clock, type Context, Duration, Effect, Option } from "effect"
import type { Capabilities } from "../../protocol/Capabilities.js"
import { ArcpError } from "../../protocol/Errors.js"
import type { EventLog, SessionRecord } from "../../store/EventLog.js"
import type { Settings } from "../RuntimeConfig.js"
import type { EvictionReason } from "../Sessions.js"

export interface DurableContext {
  readonly log: Context.Tag.Service<typeof EventLog>
  readonly settings: Settings
  readonly instanceId: string
}

/** Whether sessions outlive their connections here (`--resume-window` above 0). */
export const enabled = (settings: Settings): boolean => Duration.toMillis(settings.resumeWindow) > 0

/** Evictions after which the session may be taken back: not those that end it for cause (§8.5, §10.4). */
export const resumableAfter = (settings: Settings, reason: EvictionReason): boolean =>
  enabled(settings) && reason !== "UNAUTHENTICATED" && reason !== "PERMISSION_DENIED" && reason !== "cancelled"

/**
 * The one answer to a take-back that is not allowed — unknown, closed, past its window, or another
 * principal's — so that asking teaches nothing about other principals' sessions.
 */
const refused = (sessionId: string) =>
  ArcpError.of(
    "PERMISSION_DENIED",
    `session ${sessionId} cannot be resumed: it is unknown, closed, past its resume window, or not yours; open a new session`
  )

/** Checks that `principal` may take back session `sessionId` now; its record, or the refusal. */
export const takeBack = Effect.fnUntraced(function*(
  ctx: DurableContext,
  sessionId: string,
  principal: string
) {
  if (!enabled(ctx.settings)) {
    return yield* ArcpError.of(
      "FAILED_PRECONDITION",
      "this runtime keeps no sessions past their connection (--resume-window 0)"
    )
  }
  const found = yield* ctx.log.getSession(sessionId).pipe(
    Effect.mapError((e) => ArcpError.of("UNAVAILABLE", `cannot read the session record: ${e.message}`))
  )
  const now = yield* Clock.currentTimeMillis
  if (
    Option.isNone(found) || found.value.principal !== principal || found.value.state === "closed" ||
    (found.value.state === "detached" && (found.value.resume_until ?? 0) < now)
  ) {
    yield* Effect.logInfo(`refused to resume session ${sessionId} for ${principal}`)
    return yield* refused(sessionId)
  }
  return found.value
})

/** What a connection records as it holds a session. */
export interface Holding {
  readonly sessionId: string
  readonly principal: string
  readonly capabilities: Capabilities
  readonly leaseExpiresAt: number
  readonly trustLevel: string
  /** When the session was first opened (kept across take-backs). */
  readonly createdAt: number
}

/**
 * The record of the session held by this runtime's connection: committed with the handshake's transcript
 * and `session.accepted` (one commit), so the session is resumable once the client hears it is open.
 */
export const heldRecord = (ctx: DurableContext, holding: Holding, now: number): SessionRecord => ({
  session_id: holding.sessionId,
  principal: holding.principal,
  capabilities: JSON.stringify(holding.capabilities),
  lease_expires_at: holding.leaseExpiresAt,
  last_position: 0,
  state: "attached",
  instance_id: ctx.instanceId,
  trust_level: holding.trustLevel,
  created_at: holding.createdAt,
  updated_at: now
})

/**
 * Records that the connection let go of the session: resumable until the window ends (`detached`),
 * or for good (`closed`: session.close, or an eviction that ends it). One write, no reads: the log
 * takes the last position as it commits, and leaves a record already closed as it is (closed for good).
 */
export const release = (ctx: DurableContext, holding: Holding, closed: boolean): Effect.Effect<void> =>
  Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    yield* ctx.log.recordGroup([{ _tag: "ReleaseSession", session: releaseRecord(ctx, holding, closed, now) }])
  }).pipe(Effect.catchAll((e) => Effect.logWarning(`cannot record that session ${holding.sessionId} was let go`, e)))

/** The record a release writes (see `release`), for a commit that carries it with other writes. */
export const releaseRecord = (ctx: DurableContext, holding: Holding, closed: boolean, now: number): SessionRecord => {
  const detach = !closed && enabled(ctx.settings)
  return {
    ...heldRecord(ctx, holding, now),
    state: detach ? "detached" : "closed",
    ...(detach ? { resume_until: now + Duration.toMillis(ctx.settings.resumeWindow) } : {})
  }
}
