/**
 * A one-slot wake-up for a fiber that loops (the outbound writer): `signal` wakes it if it waits in `next`,
 * and a signal that comes while it is busy is kept for its next wait; `clear` drops a kept one (a new round
 * looks at everything anyway). Nothing is allocated until somebody waits.
 */
import { Deferred, Effect, FiberId } from "effect"

export interface WakeUp {
  signal(): void
  readonly next: Effect.Effect<void>
  clear(): void
}

/** One object, its methods on the prototype and `next` built when awaited (issue 12: nothing kept per connection). */
class OneSlot implements WakeUp {
  private signalled = false
  private woken: Deferred.Deferred<void> | undefined = undefined

  signal(): void {
    this.signalled = true
    const waiting = this.woken
    this.woken = undefined
    if (waiting !== undefined) Deferred.unsafeDone(waiting, Effect.void)
  }

  get next(): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.signalled) {
        this.signalled = false
        return Effect.void
      }
      this.woken ??= Deferred.unsafeMake<void>(FiberId.none)
      return Deferred.await(this.woken)
    })
  }

  clear(): void {
    this.signalled = false
  }
}

export const make = (): WakeUp => new OneSlot()
