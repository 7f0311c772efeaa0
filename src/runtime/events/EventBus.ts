/**
 * The event bus (ARCHITECTURE "the event path"): the recorder publishes each
 * committed batch of envelopes, with their positions, after the commit; every
 * `Feed` follower hears them. In-process it is a `PubSub`; the contract is
 * kept small enough for a database's notification channel to implement it
 * (PostgreSQL LISTEN/NOTIFY carrying the positions, the rows then read from
 * the log): a publish never waits for a subscriber, batches arrive in commit
 * order, and a subscriber hears only what was published after it subscribed. A subscriber may say which
 * events concern it: a committed batch with none of them is not handed to it, so a follower waits on its
 * queue without being woken by every commit of the runtime (issue 12).
 */
import { Context, Effect, Layer, Option, Queue, type Scope } from "effect"
import { onClose } from "../../internal/OnClose.js"
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
  /**
   * A subscription for the life of the scope: every message published after this returns, in order, except
   * the committed batches none of whose events `concerns` accepts (none skipped without it). Every
   * `Unrecorded` is handed over. What is handed over is still the whole batch: the subscriber filters it.
   */
  readonly subscribe: (concerns?: Concerns) => Effect.Effect<Queue.Dequeue<BusMessage>, never, Scope.Scope>
}>() {}

/** Whether a committed event concerns a subscriber; called synchronously by the publisher, so it must be cheap. */
export type Concerns = (event: Published) => boolean

/** Whether `message` is handed to a subscriber with `concerns`. */
export const handedTo = (concerns: Concerns | undefined, message: BusMessage): boolean =>
  concerns === undefined || message._tag === "Unrecorded" || message.events.some(concerns)

/**
 * The subscribers of one process, each with its own unbounded queue (a follower's bound is its own, see Feed):
 * `deliver` hands a message, synchronously and in call order, to the subscribers it concerns. The in-process
 * bus is this; a shared bus delivers through it what its channel brought.
 */
export const makeSubscribers = () => {
  const subscribers = new Set<{ readonly concerns: Concerns | undefined; readonly queue: Queue.Queue<BusMessage> }>()
  return {
    deliver: (message: BusMessage): void => {
      for (const s of subscribers) if (handedTo(s.concerns, message)) Queue.unsafeOffer(s.queue, message)
    },
    subscribe: (concerns?: Concerns): Effect.Effect<Queue.Dequeue<BusMessage>, never, Scope.Scope> =>
      Effect.flatMap(Queue.unbounded<BusMessage>(), (queue) => {
        const subscriber = { concerns, queue }
        subscribers.add(subscriber)
        // as a PubSub's subscription: a take after the scope closed is interrupted, not left waiting
        return Effect.as(
          onClose(Effect.zipRight(Effect.sync(() => subscribers.delete(subscriber)), Queue.shutdown(queue))),
          queue
        )
      })
  }
}

/** The in-process bus. */
export const make = Effect.sync(() => {
  const { deliver, subscribe } = makeSubscribers()
  return EventBus.of({ publish: (message) => Effect.sync(() => deliver(message)), subscribe })
})

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
