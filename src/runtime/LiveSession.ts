/**
 * One accepted session on its connection: its lease and the re-authentication
 * it triggers (§8.4), idle eviction (§8.5), and eviction itself.
 */
import { Clock, Deferred, Duration, Effect, Fiber, Option, Ref, type Scope } from "effect"
import type { Context } from "effect"
import type { Capabilities } from "../protocol/Capabilities.js"
import { type ChallengeId, makeChallengeId, type SessionId } from "../protocol/Ids.js"
import type { Message } from "../protocol/Message.js"
import { fromMillis } from "../protocol/Timestamp.js"
import type { Authenticator, Challenge, Principal } from "./Auth.js"
import type { Outbound } from "./Outbound.js"
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
}

interface PendingRefresh {
  readonly challengeId: ChallengeId
  readonly challenge: Challenge
  readonly deadline: Fiber.RuntimeFiber<void>
  readonly settled: Deferred.Deferred<void>
}

export interface Params {
  readonly id: SessionId
  readonly principal: Principal
  readonly capabilities: Capabilities
  readonly settings: Settings
  readonly authenticator: Context.Tag.Service<typeof Authenticator>
  readonly outbound: Outbound
  /** Ends the connection (after flushing what was queued). */
  readonly close: Effect.Effect<void>
  /** Runs before `session.evicted` goes out: the session's subscriptions are closed with the reason (§13.4). */
  readonly onEvict?: ((reason: EvictionReason) => Effect.Effect<void>) | undefined
}

/** The lease end: the configured lease, cut short by the credential's own expiry. */
export const leaseEnd = (now: number, settings: Settings, principal: Principal): number =>
  Math.min(now + Duration.toMillis(settings.sessionLease), principal.expiresAt ?? Number.POSITIVE_INFINITY)

/** Starts the session's timers in the current scope. */
export const start = (params: Params): Effect.Effect<LiveSession, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { authenticator, outbound, settings } = params
    const principal = yield* Ref.make(params.principal)
    const lastActivity = yield* Ref.make(yield* Clock.currentTimeMillis)
    const leaseExpiresAt = yield* Ref.make(leaseEnd(yield* Clock.currentTimeMillis, settings, params.principal))
    const pending = yield* Ref.make(Option.none<PendingRefresh>())
    const scope = yield* Effect.scope
    let evicted = false

    const evict = (reason: EvictionReason, message: string) =>
      Effect.suspend(() => {
        if (evicted) return Effect.void
        evicted = true
        return (params.onEvict === undefined ? Effect.void : params.onEvict(reason)).pipe(
          Effect.zipRight(
            outbound.emit("session.evicted", { reason, message, allow_resume: false }, { priority: "critical" })
          )
        )
          .pipe(Effect.zipRight(Effect.logInfo(`session evicted: ${reason} ${message}`)), Effect.zipRight(params.close))
      })

    const extendLease = (who: Principal) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => Ref.set(leaseExpiresAt, leaseEnd(now, settings, who)))

    const refresh = (reason: string): Effect.Effect<void> =>
      Effect.gen(function*() {
        if (Option.isSome(yield* Ref.get(pending))) return
        const who = yield* Ref.get(principal)
        const challenge = yield* authenticator.refresh(who).pipe(
          Effect.catchAll((e) => Effect.as(evict("UNAUTHENTICATED", e.message), Option.none<Challenge>()))
        )
        if (Option.isNone(challenge)) return yield* extendLease(who) // nothing to prove (anonymous)
        const challengeId = yield* makeChallengeId
        const deadline = yield* Effect.sleep(settings.refreshDeadline).pipe(
          Effect.zipRight(evict("UNAUTHENTICATED", "re-authentication deadline passed")),
          Effect.forkIn(scope)
        )
        const settled = yield* Deferred.make<void>()
        yield* Ref.set(pending, Option.some({ challengeId, challenge: challenge.value, deadline, settled }))
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
        const current = yield* Ref.get(pending)
        if (Option.isNone(current) || current.value.challengeId !== message.payload.challenge_id) return false
        const { challenge, deadline, settled } = current.value
        yield* Fiber.interrupt(deadline)
        yield* Ref.set(pending, Option.none())
        yield* challenge.verify(message.payload.response).pipe(
          Effect.matchEffect({
            onFailure: (e) => evict("UNAUTHENTICATED", e.message),
            onSuccess: (who) =>
              Effect.gen(function*() {
                // a session keeps its principal: everything it owns and may see was granted to that one
                if (who.id !== (yield* Ref.get(principal)).id) {
                  return yield* evict(
                    "UNAUTHENTICATED",
                    "re-authentication named a different principal; a session cannot change its principal"
                  )
                }
                yield* Ref.set(principal, who)
                yield* extendLease(who)
                // a fresh session.accepted carries the renewed lease (our choice; the RFC leaves the answer open)
                yield* outbound.emit("session.accepted", {
                  session_id: params.id,
                  runtime: settings.identity,
                  capabilities: params.capabilities,
                  lease: { expires_at: fromMillis(yield* Ref.get(leaseExpiresAt)) },
                  trust_level: trustOf(who, settings)
                }, { correlation_id: message.id })
              })
          })
        )
        yield* Deferred.succeed(settled, undefined)
        return true
      })

    // idle eviction (§8.5): no inbound traffic for `idleTimeout`
    const idleMs = Duration.toMillis(settings.idleTimeout)
    yield* Effect.gen(function*() {
      while (true) {
        const remaining = (yield* Ref.get(lastActivity)) + idleMs - (yield* Clock.currentTimeMillis)
        if (remaining <= 0) return yield* evict("DEADLINE_EXCEEDED", `idle for ${idleMs / 1000} s`)
        yield* Effect.sleep(Duration.millis(remaining))
      }
    }).pipe(Effect.forkScoped)

    // lease renewal (§8.4): ask for re-authentication `refreshDeadline` before the lease ends
    const leadMs = Duration.toMillis(settings.refreshDeadline)
    yield* Effect.gen(function*() {
      while (true) {
        const wait = (yield* Ref.get(leaseExpiresAt)) - leadMs - (yield* Clock.currentTimeMillis)
        if (wait > 0) {
          yield* Effect.sleep(Duration.millis(wait))
          continue
        }
        yield* refresh("lease_expiring")
        const current = yield* Ref.get(pending)
        if (Option.isSome(current)) yield* Deferred.await(current.value.settled)
      }
    }).pipe(Effect.forkScoped)

    return {
      id: params.id,
      principal: Ref.get(principal),
      capabilities: params.capabilities,
      refresh,
      evict,
      touch: Effect.flatMap(Clock.currentTimeMillis, (now) => Ref.set(lastActivity, now)),
      answerRefresh,
      leaseExpiresAt: Ref.get(leaseExpiresAt),
      buffer: { usage: outbound.usage, backedUp: outbound.backedUp }
    }
  })
