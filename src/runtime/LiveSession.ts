/**
 * One accepted session on its connection: its lease and the re-authentication
 * it triggers (§8.4), idle eviction (§8.5), and eviction itself.
 */
import { Clock, Duration, Effect, Fiber, type FiberRefs, Option, type Scope } from "effect"
import type { Context } from "effect"
import { withMillis } from "../internal/Now.js"
import { onClose } from "../internal/OnClose.js"
import { forkWithFiberRefs } from "../internal/WithFiberRefs.js"
import type { Capabilities } from "../protocol/Capabilities.js"
import { type ChallengeId, makeChallengeId, type SessionId } from "../protocol/Ids.js"
import type { Message } from "../protocol/Message.js"
import { fromMillis } from "../protocol/Timestamp.js"
import type { Authenticator, Challenge, Principal } from "./auth/Auth.js"
import type { Rider } from "./connection/Riders.js"
import { type DurableContext, type Holding, release, releaseRecord, resumableAfter } from "./durable/DurableSessions.js"
import type { Heartbeats } from "./internal/Heartbeats.js"
import type { Outbound } from "./outbound/Outbound.js"
import { trustOf } from "./permissions/Trust.js"
import type { Settings } from "./RuntimeConfig.js"
import type { EvictionReason, SessionHandle } from "./Sessions.js"

export interface LiveSession extends SessionHandle {
  /** Records inbound activity (resets the idle timer). */
  readonly touch: Effect.Effect<void>
  /** Handles `session.authenticate` on an open session: false when no refresh with that challenge is pending. */
  readonly answerRefresh: (message: Message<"session.authenticate">) => Effect.Effect<boolean>
  /** When the current lease ends (epoch ms). */
  readonly leaseExpiresAt: Effect.Effect<number>
  /** The session ends with its connection, not resumable (`session.close`, §9). */
  readonly markClosed: Effect.Effect<void>
  /**
   * The session's release, to commit with its last answer (`session.close`'s ack): once committed, the
   * connection's end records nothing more for it. Undefined when nothing is recorded for the session.
   */
  readonly letGo: Effect.Effect<Rider | undefined>
}

interface PendingRefresh {
  readonly challengeId: ChallengeId
  readonly challenge: Challenge
  readonly deadline: Fiber.RuntimeFiber<void>
}

export interface Params {
  readonly id: SessionId
  readonly principal: Principal
  readonly capabilities: Capabilities
  readonly settings: Settings
  readonly authenticator: Context.Tag.Service<typeof Authenticator>
  readonly outbound: Outbound
  /** The runtime's one timer for every session's idle and lease deadlines (a timer fiber per session costs memory). */
  readonly deadlines: Heartbeats
  /** Ends the connection (after flushing what was queued). */
  readonly close: Effect.Effect<void>
  /** Durable sessions (§9): where the session is recorded as let go when the connection ends. */
  readonly durable?: {
    readonly ctx: DurableContext
    readonly createdAt: number
    /** Whether its record is committed yet: a handshake that could not record it lets nothing go. */
    readonly recorded: () => boolean
  } | undefined
  /** Runs before `session.evicted` goes out: the session's subscriptions are closed with the reason (§13.4). */
  readonly onEvict?: ((reason: EvictionReason) => Effect.Effect<void>) | undefined
  /** The fiber refs its timers' work runs with (the connection's, shared: each copy costs an idle session ~1 KB). */
  readonly fiberRefs?: FiberRefs.FiberRefs | undefined
}

/** The lease end: the configured lease, cut short by the credential's own expiry. */
export const leaseEnd = (now: number, settings: Settings, principal: Principal): number =>
  Math.min(now + Duration.toMillis(settings.sessionLease), principal.expiresAt ?? Number.POSITIVE_INFINITY)

/** Starts the session's timers in the current scope. */
export const start = (params: Params): Effect.Effect<LiveSession, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { authenticator, outbound, settings } = params
    // plain fields, not Refs: one fiber at a time acts on a session, and an idle session holds less (issue 12)
    let principal = params.principal
    let lastActivity = yield* Clock.currentTimeMillis
    let leaseExpiresAt = leaseEnd(lastActivity, settings, params.principal)
    let pending: PendingRefresh | undefined
    const scope = yield* Effect.scope
    let evicted = false
    // set when the session ends for good: its record then says closed, not resumable
    let closed = false
    const { deadlines, durable } = params
    // the session's key in the runtime's timer; what is due runs on a fiber of the session's, with its fiber refs
    const key = {}
    let ended = false
    const refs = params.fiberRefs ?? (yield* Effect.getFiberRefs)
    const onSession = (effect: Effect.Effect<void>) => Effect.asVoid(forkWithFiberRefs(refs, scope, effect))
    // set once a release was committed with the session's last answer: nothing more to record at the end
    let released = false
    const holding = (createdAt: number): Effect.Effect<Holding> =>
      Effect.sync(() => ({
        sessionId: params.id,
        principal: principal.id,
        capabilities: params.capabilities,
        leaseExpiresAt,
        trustLevel: trustOf(principal, settings),
        createdAt
      }))
    // runs when the connection's scope closes, however it ends (one finalizer: each costs an idle session memory)
    yield* onClose(
      Effect.zipRight(
        Effect.suspend(() => {
          ended = true
          return deadlines.unregister(key)
        }),
        durable !== undefined && durable.recorded() && !released
          ? Effect.flatMap(holding(durable.createdAt), (held) => release(durable.ctx, held, closed))
          : Effect.void
      )
    )

    const evict = (reason: EvictionReason, message: string) =>
      Effect.suspend(() => {
        if (evicted) return Effect.void
        evicted = true
        // §8.5: the client may take the session back after evictions that do not end it for cause
        const allowResume = durable !== undefined && resumableAfter(settings, reason)
        if (!allowResume) closed = true
        return (params.onEvict === undefined ? Effect.void : params.onEvict(reason)).pipe(
          Effect.zipRight(
            outbound.emit("session.evicted", { reason, message, allow_resume: allowResume }, { priority: "critical" })
          )
        )
          .pipe(Effect.zipRight(Effect.logInfo(`session evicted: ${reason} ${message}`)), Effect.zipRight(params.close))
      })

    const extendLease = (who: Principal) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        leaseExpiresAt = leaseEnd(now, settings, who)
      })

    const refresh = (reason: string): Effect.Effect<void> =>
      Effect.gen(function*() {
        if (pending !== undefined) return
        const who = principal
        const challenge = yield* authenticator.refresh(who).pipe(
          Effect.catchAll((e) => Effect.as(evict("UNAUTHENTICATED", e.message), Option.none<Challenge>()))
        )
        if (Option.isNone(challenge)) return yield* extendLease(who) // nothing to prove (anonymous)
        const challengeId = yield* makeChallengeId
        const deadline = yield* Effect.sleep(settings.refreshDeadline).pipe(
          Effect.zipRight(evict("UNAUTHENTICATED", "re-authentication deadline passed")),
          Effect.forkIn(scope)
        )
        pending = { challengeId, challenge: challenge.value, deadline }
        yield* outbound.emit("session.refresh", {
          reason,
          deadline_ms: Duration.toMillis(settings.refreshDeadline),
          challenge_id: challengeId,
          type: challenge.value.type,
          params: challenge.value.params
        }, { priority: "critical" })
      })

    const answerRefresh = (message: Message<"session.authenticate">) =>
      Effect.gen(function*() {
        const current = pending
        if (current === undefined || current.challengeId !== message.payload.challenge_id) return false
        const { challenge, deadline } = current
        yield* Fiber.interrupt(deadline)
        pending = undefined
        yield* challenge.verify(message.payload.response).pipe(
          Effect.matchEffect({
            onFailure: (e) => evict("UNAUTHENTICATED", e.message),
            onSuccess: (who) =>
              Effect.gen(function*() {
                // a session keeps its principal: everything it owns and may see was granted to that one
                if (who.id !== principal.id) {
                  return yield* evict(
                    "UNAUTHENTICATED",
                    "re-authentication named a different principal; a session cannot change its principal"
                  )
                }
                principal = who
                yield* extendLease(who)
                // a fresh session.accepted carries the renewed lease (our choice; the RFC leaves the answer open)
                yield* outbound.emit("session.accepted", {
                  session_id: params.id,
                  runtime: settings.identity,
                  capabilities: params.capabilities,
                  lease: { expires_at: fromMillis(leaseExpiresAt) },
                  trust_level: trustOf(who, settings)
                }, { correlation_id: message.id })
              })
          })
        )
        if (!evicted) yield* rearm
        return true
      })

    // Both deadlines on the runtime's one timer (a timer fiber per session cost an idle session memory, issue 12).
    // Idle eviction (§8.5): no inbound traffic for `idleTimeout`; lease renewal (§8.4): re-authentication is
    // asked for `refreshDeadline` before the lease ends. While a refresh is pending only the idle deadline
    // counts; its answer re-arms the timer for the renewed lease. Inbound traffic only moves `lastActivity`:
    // the timer, due at the old deadline, finds the new one and waits again.
    const idleMs = Duration.toMillis(settings.idleTimeout)
    const leadMs = Duration.toMillis(settings.refreshDeadline)
    /** Acts on what is due at `now` (on a fiber of the session's: the timer serves every session), else re-arms. */
    const due = (now: number): Effect.Effect<boolean> =>
      Effect.gen(function*() {
        if (ended) return false
        const idle = lastActivity + idleMs - now
        if (idle <= 0) {
          yield* onSession(evict("DEADLINE_EXCEEDED", `idle for ${idleMs / 1000} s`))
          return false
        }
        const renew = pending !== undefined ? Number.POSITIVE_INFINITY : leaseExpiresAt - leadMs - now
        if (renew <= 0) {
          // re-armed once the refresh is pending (only the idle deadline counts then)
          yield* onSession(Effect.zipRight(refresh("lease_expiring"), rearm))
          return false
        }
        yield* deadlines.register(key, now + Math.min(idle, renew), 1, due)
        return true
      })
    const rearm: Effect.Effect<void> = Effect.flatMap(Clock.currentTimeMillis, due)
    yield* rearm

    return {
      id: params.id,
      principal: Effect.sync(() => principal),
      capabilities: params.capabilities,
      refresh,
      evict,
      // one fiber step per message (issue 12)
      touch: withMillis((now) => {
        lastActivity = now
        return Effect.void
      }),
      answerRefresh,
      leaseExpiresAt: Effect.sync(() => leaseExpiresAt),
      markClosed: Effect.sync(() => {
        closed = true
      }),
      letGo: Effect.gen(function*() {
        if (durable === undefined || !durable.recorded()) return undefined
        const held = yield* holding(durable.createdAt)
        const record = releaseRecord(durable.ctx, held, closed, yield* Clock.currentTimeMillis)
        const rider: Rider = {
          parts: [{ _tag: "ReleaseSession", session: record }],
          committed: () => {
            released = true
          }
        }
        return rider
      }),
      buffer: { usage: outbound.usage, backedUp: outbound.backedUp }
    }
  })
