/**
 * The registry of live sessions (RFC §8.4, §8.5, §9): who is connected, and the
 * handles to re-authenticate or evict a session from outside its connection.
 */
import { Context, Effect, Layer, Option, Ref } from "effect"
import type { Capabilities } from "../protocol/Capabilities.js"
import { ArcpError, type CanonicalCode } from "../protocol/Errors.js"
import type { SessionId } from "../protocol/Ids.js"
import type { Principal } from "./Auth.js"

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
  readonly refresh: (reason: string) => Effect.Effect<void>
  /** Sends `session.evicted` with `reason` and closes the connection (§8.5, §10.4). */
  readonly evict: (reason: EvictionReason, message: string) => Effect.Effect<void>
}

export class Sessions extends Context.Tag("arcp/Sessions")<Sessions, {
  readonly register: (handle: SessionHandle) => Effect.Effect<void>
  readonly unregister: (id: SessionId) => Effect.Effect<void>
  readonly get: (id: SessionId) => Effect.Effect<Option.Option<SessionHandle>>
  readonly list: Effect.Effect<ReadonlyArray<SessionHandle>>
  /** Asks a live session to re-authenticate; NOT_FOUND when it is not live here. */
  readonly refresh: (id: SessionId, reason: string) => Effect.Effect<void, ArcpError>
  /** Evicts a live session; NOT_FOUND when it is not live here. */
  readonly evict: (id: SessionId, code: CanonicalCode, message: string) => Effect.Effect<void, ArcpError>
}>() {}

export const make = Effect.gen(function*() {
  const live = yield* Ref.make(new Map<SessionId, SessionHandle>())
  const get = (id: SessionId) => Effect.map(Ref.get(live), (m) => Option.fromNullable(m.get(id)))
  const require = (id: SessionId) =>
    Effect.flatMap(
      get(id),
      Option.match({
        onNone: () => Effect.fail(ArcpError.of("NOT_FOUND", `session ${id} is not live on this runtime`)),
        onSome: Effect.succeed
      })
    )
  return Sessions.of({
    register: (handle) => Ref.update(live, (m) => new Map(m).set(handle.id, handle)),
    unregister: (id) =>
      Ref.update(live, (m) => {
        const next = new Map(m)
        next.delete(id)
        return next
      }),
    get,
    list: Effect.map(Ref.get(live), (m) => [...m.values()]),
    refresh: (id, reason) => Effect.flatMap(require(id), (h) => h.refresh(reason)),
    evict: (id, code, message) => Effect.flatMap(require(id), (h) => h.evict(code, message))
  })
})

export const layer: Layer.Layer<Sessions> = Layer.effect(Sessions, make)
