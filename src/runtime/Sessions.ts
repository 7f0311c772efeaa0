/**
 * The registry of live sessions (RFC §8.4, §8.5, §9): who is connected, and the
 * handles to re-authenticate or evict a session from outside its connection.
 */
import { Context, Effect, Layer, Option } from "effect"
import type { Capabilities } from "../protocol/Capabilities.js"
import { ArcpError, type CanonicalCode } from "../protocol/Errors.js"
import type { SessionId } from "../protocol/Ids.js"
import type { Principal } from "./auth/Auth.js"
import type { Outbound } from "./outbound/Outbound.js"
import { RuntimeConfig } from "./RuntimeConfig.js"

/**
 * The `reason` of a `session.evicted`: a canonical code (§8.5), or `cancelled`
 * for a session ended by its own cancel, the spelling §10.4 requires there.
 */
export type EvictionReason = CanonicalCode | "cancelled"

/** What the registry knows of a session, and how to act on it. */
export interface SessionHandle {
  readonly id: SessionId
  readonly principal: Effect.Effect<Principal>
  readonly capabilities: Capabilities
  /** Sends `session.refresh`; the client must re-authenticate within the deadline or is evicted (§8.4). */
  refresh(reason: string): Effect.Effect<void>
  /** Sends `session.evicted` with `reason` and closes the connection (§8.5, §10.4). */
  evict(reason: EvictionReason, message: string): Effect.Effect<void>
  /** Its connection's outbound buffer: what it holds, and when a producer first had to wait (tests, benchmarks). */
  readonly buffer: Pick<Outbound, "usage" | "backedUp">
}

export class Sessions extends Context.Tag("arcp/Sessions")<Sessions, {
  /** Adds a live session; RESOURCE_EXHAUSTED when the runtime already has --max-sessions. */
  readonly register: (handle: SessionHandle) => Effect.Effect<void, ArcpError>
  /** RESOURCE_EXHAUSTED when no further session would fit (checked again, atomically, by `register`). */
  readonly admit: Effect.Effect<void, ArcpError>
  /** Removes a session; with `handle`, only while that handle is the one registered (a take-back replaced it). */
  readonly unregister: (id: SessionId, handle?: SessionHandle) => Effect.Effect<void>
  readonly get: (id: SessionId) => Effect.Effect<Option.Option<SessionHandle>>
  readonly list: Effect.Effect<ReadonlyArray<SessionHandle>>
  /** Asks a live session to re-authenticate; NOT_FOUND when it is not live here. */
  readonly refresh: (id: SessionId, reason: string) => Effect.Effect<void, ArcpError>
  /** Evicts a live session; NOT_FOUND when it is not live here. */
  readonly evict: (id: SessionId, code: CanonicalCode, message: string) => Effect.Effect<void, ArcpError>
}>() {}

export const make = Effect.gen(function*() {
  const { maxSessions } = yield* RuntimeConfig
  // a plain Map, changed in place: each check-and-change runs in one synchronous step, so it is atomic; a Ref of
  // an immutable Map copied every entry on every handshake (issue 12)
  const live = new Map<SessionId, SessionHandle>()
  const full = (count: number) =>
    ArcpError.of(
      "RESOURCE_EXHAUSTED",
      `the runtime serves ${count} sessions, its limit (--max-sessions); try again later`,
      { details: { sessions: count, max_sessions: maxSessions } }
    )
  const get = (id: SessionId) => Effect.sync(() => Option.fromNullable(live.get(id)))
  const require = (id: SessionId) =>
    Effect.flatMap(
      get(id),
      Option.match({
        onNone: () => Effect.fail(ArcpError.of("NOT_FOUND", `session ${id} is not live on this runtime`)),
        onSome: Effect.succeed
      })
    )
  return Sessions.of({
    register: (handle) =>
      Effect.suspend(() => {
        if (live.size >= maxSessions && !live.has(handle.id)) return Effect.fail(full(live.size))
        live.set(handle.id, handle)
        return Effect.void
      }),
    admit: Effect.suspend(() => (live.size >= maxSessions ? Effect.fail(full(live.size)) : Effect.void)),
    unregister: (id, handle) =>
      Effect.sync(() => {
        if (handle === undefined || live.get(id) === handle) live.delete(id)
      }),
    get,
    list: Effect.sync(() => [...live.values()]),
    refresh: (id, reason) => Effect.flatMap(require(id), (h) => h.refresh(reason)),
    evict: (id, code, message) => Effect.flatMap(require(id), (h) => h.evict(code, message))
  })
})

export const layer: Layer.Layer<Sessions, never, RuntimeConfig> = Layer.effect(Sessions, make)
