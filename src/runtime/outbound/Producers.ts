/**
 * The producers an outbound path holds back (Outbound's `room` and `sheddingRoom`): who waits for room,
 * woken once their kind of room is back, and who watches for the first of them to wait (`backedUp`).
 */
import { Deferred, Effect, FiberId } from "effect"

interface Waiter {
  readonly ready: Deferred.Deferred<void>
  readonly shedding: boolean
}

export interface Producers {
  /** Enlists a producer of this kind, tells the watchers, and returns its wait for room. */
  readonly enlist: (shedding: boolean) => Effect.Effect<Effect.Effect<void>>
  /** Wakes every producer that `hasRoom` now lets go. */
  readonly wake: Effect.Effect<void>
  /** How many producers wait. */
  readonly waiting: () => number
  /** Completes once a producer waits (at once if one does). */
  readonly backedUp: Effect.Effect<void>
}

/** `hasRoom(shedding)`: whether a producer of that kind may go on (always, once the path is gone). */
export const make = (hasRoom: (shedding: boolean) => boolean): Producers => {
  let waiters: Array<Waiter> = []
  // those waiting to see a producer wait (backedUp)
  let watchers: Array<Deferred.Deferred<void>> = []

  return {
    enlist: (shedding) =>
      Effect.gen(function*() {
        const ready = yield* Deferred.make<void>()
        waiters.push({ ready, shedding })
        const told = watchers
        watchers = []
        for (const w of told) yield* Deferred.succeed(w, undefined)
        return Deferred.await(ready)
      }),
    wake: Effect.suspend(() => {
      if (waiters.length === 0) return Effect.void
      const still: Array<Waiter> = []
      const ready: Array<Waiter> = []
      for (const w of waiters) (hasRoom(w.shedding) ? ready : still).push(w)
      if (ready.length === 0) return Effect.void
      waiters = still
      return Effect.forEach(ready, (w) => Deferred.succeed(w.ready, undefined), { discard: true })
    }),
    waiting: () => waiters.length,
    backedUp: Effect.suspend(() => {
      if (waiters.length > 0) return Effect.void
      const seen = Deferred.unsafeMake<void>(FiberId.none)
      watchers.push(seen)
      return Deferred.await(seen)
    })
  }
}
