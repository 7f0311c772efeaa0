/**
 * A one-slot wake-up for a fiber that loops (the outbound writer): `signal` wakes it if it waits in `next`,
 * and a signal that comes while it is busy is kept for its next wait; `clear` drops a kept one (a new round
 * looks at everything anyway). Nothing is allocated until somebody waits.
 */
import { Deferred, Effect, FiberId } from "effect"

export interface WakeUp {
  readonly signal: () => void
  readonly next: Effect.Effect<void>
  readonly clear: () => void
}

export const make = (): WakeUp => {
  let signalled = false
  let woken: Deferred.Deferred<void> | undefined
  return {
    signal: () => {
      signalled = true
      const waiting = woken
      woken = undefined
      if (waiting !== undefined) Deferred.unsafeDone(waiting, Effect.void)
    },
    next: Effect.suspend(() => {
      if (signalled) {
        signalled = false
        return Effect.void
      }
      woken ??= Deferred.unsafeMake<void>(FiberId.none)
      return Deferred.await(woken)
    }),
    clear: () => {
      signalled = false
    }
  }
}
