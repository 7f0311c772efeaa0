/**
 * The event bus (ARCHITECTURE "the event path"): the recorder publishes each
 * committed batch of envelopes, with their positions, after the commit; every
 * `Feed` follower hears them. In-process it is a `PubSub`; the contract is
 * kept small enough for a database's notification channel to implement it
 * (PostgreSQL LISTEN/NOTIFY carrying the positions, the rows then read from
 * the log): a publish never waits for a subscriber, batches arrive in commit
 * order, and a subscriber hears only what was published after it subscribed.
 */
import { Context, Effect, Layer, Option, PubSub, type Queue, type Scope } from "effect"
import type { Decoded } from "../../protocol/Message.js"

/** One committed outbound envelope. */
export interface Published {
  /** Its position in the log (commit order). */
  readonly position: number
  /** The session it was addressed to, and that session's principal (whose it is, for visibility). */
  readonly sessionId: string
  readonly principal: string
  readonly envelope: Decoded
  readonly json: string
}

/** What the bus carries: a committed batch, or a batch that could not be committed (nothing of it was published). */
export type BusMessage =
  | { readonly _tag: "Committed"; readonly events: ReadonlyArray<Published> }
  | {
    readonly _tag: "Unrecorded"
    /** The sessions whose envelopes were lost: their connections must not go on as if delivered (fail closed). */
    readonly sessionIds: ReadonlyArray<string>
    readonly message: string
  }

export class EventBus extends Context.Tag("arcp/EventBus")<EventBus, {
  /** Hands a message to every current subscriber; never waits for one. Called by the recorder only. */
  readonly publish: (message: BusMessage) => Effect.Effect<void>
  /** A subscription for the life of the scope: every message published after this returns, in order. */
  readonly subscribe: Effect.Effect<Queue.Dequeue<BusMessage>, never, Scope.Scope>
}>() {}

/** The in-process bus: an unbounded `PubSub` (a follower's bound is its own queue, see Feed). */
export const make = Effect.map(PubSub.unbounded<BusMessage>(), (pubsub) =>
  EventBus.of({
    publish: (message) => Effect.asVoid(PubSub.publish(pubsub, message)),
    subscribe: PubSub.subscribe(pubsub)
  }))

/**
 * The bus of a store shared by several runtimes (PostgreSQL's LISTEN/NOTIFY), provided by that store's
 * layer beside the `EventLog`: when the runtime finds one, it is the runtime's `EventBus`.
 */
export class SharedEventBus extends Context.Tag("arcp/SharedEventBus")<SharedEventBus, EventBus["Type"]>() {}

/** The store's shared bus when it provides one (see `SharedEventBus`), otherwise the in-process bus. */
export const layer: Layer.Layer<EventBus> = Layer.effect(
  EventBus,
  Effect.flatMap(Effect.serviceOption(SharedEventBus), Option.match({ onNone: () => make, onSome: Effect.succeed }))
)
