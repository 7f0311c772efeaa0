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
  answerRefresh(message: Message<"session.authenticate">): Effect.Effect<boolean>
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
  Effect.flatMap(
    Effect.scope,
    (scope) =>
      withMillis((now) =>
        Effect.flatMap(
          params.fiberRefs === undefined ? Effect.getFiberRefs : Effect.succeed(params.fiberRefs),
          (refs) => {
            const session = new Session(params, scope, refs, now)
            // runs when the connection's scope closes, however it ends (one finalizer: each costs an idle session memory)
            return onClose(Effect.suspend(() => session.end())).pipe(
              Effect.zipRight(session.arm(now)),
              Effect.as(session)
            )
          }
        )
      )
  )

/**
 * The session's state in plain fields (one fiber at a time acts on a session) and its steps as prototype methods
 * whose effects are built per call: an idle session keeps this one object, not a dozen closures, their context
 * and the effects they were built into (issue 12). It is its own key in the runtime's timer.
 */
class Session implements LiveSession {
  readonly id: SessionId
  readonly capabilities: Capabilities
  private who: Principal
  private lastActivity: number
  private lease: number
  private pending: PendingRefresh | undefined = undefined
  private evicted = false
  // set when the session ends for good: its record then says closed, not resumable
  private closed = false
  private ended = false
  // set once a release was committed with the session's last answer: nothing more to record at the end
  private released = false

  constructor(
    private readonly params: Params,
    private readonly scope: Scope.Scope,
    // what is due runs on a fiber of the session's, with these fiber refs
    private readonly refs: FiberRefs.FiberRefs,
    now: number
  ) {
    this.id = params.id
    this.capabilities = params.capabilities
    this.who = params.principal
    this.lastActivity = now
    this.lease = leaseEnd(now, params.settings, params.principal)
  }

  get principal(): Effect.Effect<Principal> {
    return Effect.sync(() => this.who)
  }
  get leaseExpiresAt(): Effect.Effect<number> {
    return Effect.sync(() => this.lease)
  }
  get markClosed(): Effect.Effect<void> {
    return Effect.sync(() => {
      this.closed = true
    })
  }
  get buffer(): Pick<Outbound, "usage" | "backedUp"> {
    return this.params.outbound
  }
  // one fiber step per message (issue 12)
  get touch(): Effect.Effect<void> {
    return withMillis((now) => {
      this.lastActivity = now
      return Effect.void
    })
  }

  private holding(createdAt: number): Holding {
    return {
      sessionId: this.id,
      principal: this.who.id,
      capabilities: this.capabilities,
      leaseExpiresAt: this.lease,
      trustLevel: trustOf(this.who, this.params.settings),
      createdAt
    }
  }

  /** The connection's scope closes: the timer lets the session go, and a durable one is recorded as let go. */
  end(): Effect.Effect<void> {
    this.ended = true
    const { durable } = this.params
    return Effect.zipRight(
      this.params.deadlines.unregister(this),
      durable !== undefined && durable.recorded() && !this.released
        ? Effect.suspend(() => release(durable.ctx, this.holding(durable.createdAt), this.closed))
        : Effect.void
    )
  }

  private onSession(effect: Effect.Effect<void>): Effect.Effect<void> {
    return Effect.asVoid(forkWithFiberRefs(this.refs, this.scope, effect))
  }

  evict(reason: EvictionReason, message: string): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.evicted) return Effect.void
      this.evicted = true
      const { durable, onEvict, outbound, settings } = this.params
      // §8.5: the client may take the session back after evictions that do not end it for cause
      const allowResume = durable !== undefined && resumableAfter(settings, reason)
      if (!allowResume) this.closed = true
      return (onEvict === undefined ? Effect.void : onEvict(reason)).pipe(
        Effect.zipRight(
          outbound.emit("session.evicted", { reason, message, allow_resume: allowResume }, { priority: "critical" })
        )
      )
        .pipe(
          Effect.zipRight(Effect.logInfo(`session evicted: ${reason} ${message}`)),
          Effect.zipRight(this.params.close)
        )
    })
  }

  private extendLease(who: Principal): Effect.Effect<void> {
    return Effect.map(Clock.currentTimeMillis, (now) => {
      this.lease = leaseEnd(now, this.params.settings, who)
    })
  }

  refresh(reason: string): Effect.Effect<void> {
    const session = this
    const { authenticator, outbound, settings } = this.params
    return Effect.gen(function*() {
      if (session.pending !== undefined) return
      const who = session.who
      const challenge = yield* authenticator.refresh(who).pipe(
        Effect.catchAll((e) => Effect.as(session.evict("UNAUTHENTICATED", e.message), Option.none<Challenge>()))
      )
      if (Option.isNone(challenge)) return yield* session.extendLease(who) // nothing to prove (anonymous)
      const challengeId = yield* makeChallengeId
      const deadline = yield* Effect.sleep(settings.refreshDeadline).pipe(
        Effect.zipRight(session.evict("UNAUTHENTICATED", "re-authentication deadline passed")),
        Effect.forkIn(session.scope)
      )
      session.pending = { challengeId, challenge: challenge.value, deadline }
      yield* outbound.emit("session.refresh", {
        reason,
        deadline_ms: Duration.toMillis(settings.refreshDeadline),
        challenge_id: challengeId,
        type: challenge.value.type,
        params: challenge.value.params
      }, { priority: "critical" })
    })
  }

  answerRefresh(message: Message<"session.authenticate">): Effect.Effect<boolean> {
    const session = this
    const { outbound, settings } = this.params
    return Effect.gen(function*() {
      const current = session.pending
      if (current === undefined || current.challengeId !== message.payload.challenge_id) return false
      const { challenge, deadline } = current
      yield* Fiber.interrupt(deadline)
      session.pending = undefined
      yield* challenge.verify(message.payload.response).pipe(
        Effect.matchEffect({
          onFailure: (e) => session.evict("UNAUTHENTICATED", e.message),
          onSuccess: Effect.fnUntraced(function*(who) {
            // a session keeps its principal: everything it owns and may see was granted to that one
            if (who.id !== session.who.id) {
              return yield* session.evict(
                "UNAUTHENTICATED",
                "re-authentication named a different principal; a session cannot change its principal"
              )
            }
            session.who = who
            yield* session.extendLease(who)
            // a fresh session.accepted carries the renewed lease (our choice; the RFC leaves the answer open)
            yield* outbound.emit("session.accepted", {
              session_id: session.id,
              runtime: settings.identity,
              capabilities: session.capabilities,
              lease: { expires_at: fromMillis(session.lease) },
              trust_level: trustOf(who, settings)
            }, { correlation_id: message.id })
          })
        })
      )
      if (!session.evicted) yield* session.rearm()
      return true
    })
  }

  // Both deadlines on the runtime's one timer (a timer fiber per session cost an idle session memory, issue 12).
  // Idle eviction (§8.5): no inbound traffic for `idleTimeout`; lease renewal (§8.4): re-authentication is
  // asked for `refreshDeadline` before the lease ends. While a refresh is pending only the idle deadline
  // counts; its answer re-arms the timer for the renewed lease. Inbound traffic only moves `lastActivity`:
  // the timer, due at the old deadline, finds the new one and waits again.
  /** Acts on what is due at `now` (on a fiber of the session's: the timer serves every session), else re-arms. */
  arm(now: number): Effect.Effect<boolean> {
    return Effect.suspend(() => {
      if (this.ended) return Effect.succeed(false)
      const { deadlines, settings } = this.params
      const idleMs = Duration.toMillis(settings.idleTimeout)
      const idle = this.lastActivity + idleMs - now
      if (idle <= 0) {
        return Effect.as(this.onSession(this.evict("DEADLINE_EXCEEDED", `idle for ${idleMs / 1000} s`)), false)
      }
      const renew = this.pending !== undefined
        ? Number.POSITIVE_INFINITY
        : this.lease - Duration.toMillis(settings.refreshDeadline) - now
      if (renew <= 0) {
        // re-armed once the refresh is pending (only the idle deadline counts then)
        return Effect.as(this.onSession(Effect.zipRight(this.refresh("lease_expiring"), this.rearm())), false)
      }
      return Effect.as(deadlines.register(this, now + Math.min(idle, renew), 1, (at) => this.arm(at)), true)
    })
  }

  private rearm(): Effect.Effect<void> {
    return Effect.asVoid(withMillis((now) => this.arm(now)))
  }

  get letGo(): Effect.Effect<Rider | undefined> {
    const { durable } = this.params
    if (durable === undefined) return Effect.succeed(undefined)
    return withMillis((now) => {
      if (!durable.recorded()) return Effect.succeed(undefined)
      const record = releaseRecord(durable.ctx, this.holding(durable.createdAt), this.closed, now)
      const rider: Rider = {
        parts: [{ _tag: "ReleaseSession", session: record }],
        committed: () => {
          this.released = true
        }
      }
      return Effect.succeed(rider)
    })
  }
}
