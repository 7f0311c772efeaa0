/**
 * The producers an outbound path holds back (Outbound's `room` and `sheddingRoom`): who waits for room,
 * woken once their kind of room is back, and who watches for the first of them to wait (`backedUp`).
 */
import { Deferred, Effect, FiberId } from "effect"
import type { Room } from "./OutboundApi.js"

interface Waiter {
  readonly ready: Deferred.Deferred<void>
  readonly shedding: boolean
}

export interface Producers {
  /** Enlists a producer of this kind, tells the watchers, and returns its wait for room. */
  enlist(shedding: boolean): Effect.Effect<Effect.Effect<void>>
  /** Wakes every producer that `roomNow` now lets go. */
  wake(): Effect.Effect<void>
  /** How many producers wait. */
  waiting(): number
  /** Completes once a producer waits (at once if one does). */
  backedUp(): Effect.Effect<void>
}

/** One object, its methods on the prototype: made by the first producer that waits or watches (issue 12). */
class Waiting implements Producers {
  private waiters: Array<Waiter> = []
  // those waiting to see a producer wait (backedUp)
  private watchers: Array<Deferred.Deferred<void>> = []

  constructor(private readonly room: Pick<Room, "roomNow">) {}

  enlist(shedding: boolean): Effect.Effect<Effect.Effect<void>> {
    return Effect.suspend(() => {
      const ready = Deferred.unsafeMake<void>(FiberId.none)
      this.waiters.push({ ready, shedding })
      const told = this.watchers
      this.watchers = []
      for (const w of told) Deferred.unsafeDone(w, Effect.void)
      return Effect.succeed(Deferred.await(ready))
    })
  }

  wake(): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.waiters.length === 0) return Effect.void
      const still: Array<Waiter> = []
      const ready: Array<Waiter> = []
      for (const w of this.waiters) (this.room.roomNow(w.shedding) ? ready : still).push(w)
      if (ready.length === 0) return Effect.void
      this.waiters = still
      return Effect.forEach(ready, (w) => Deferred.succeed(w.ready, undefined), { discard: true })
    })
  }

  waiting(): number {
    return this.waiters.length
  }

  backedUp(): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.waiters.length > 0) return Effect.void
      const seen = Deferred.unsafeMake<void>(FiberId.none)
      this.watchers.push(seen)
      return Deferred.await(seen)
    })
  }
}

export const make = (room: Pick<Room, "roomNow">): Producers => new Waiting(room)
