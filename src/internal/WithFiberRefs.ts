/**
 * Runs an effect with the fiber refs of another fiber (a connection's log annotations and span listener, on a
 * fiber forked by whoever sent or whatever timer fired). `Effect.setFiberRefs` sets them one by one, and each set
 * copies the whole map: ~40 copies of ~40 entries, on every start of a connection's writer (issue 12). This takes
 * the snapshot as one copy, as a fork would.
 */
import { Effect, type Fiber, FiberRefs, type Scope } from "effect"

export const withFiberRefs = <A, E, R>(
  refs: FiberRefs.FiberRefs,
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> =>
  Effect.zipRight(Effect.updateFiberRefs((fiberId) => FiberRefs.forkAs(refs, fiberId)), effect)

/**
 * Forks `effect` in `scope` with `refs`, interruptible: work a shared timer or another fiber starts on a
 * connection's behalf (its writer, its deadlines). Interruptible because a fork inherits its starter's
 * interruptibility, and the starter may be a timer's uninterruptible tick or a finalizer.
 */
export const forkWithFiberRefs = <A, E>(
  refs: FiberRefs.FiberRefs,
  scope: Scope.Scope,
  effect: Effect.Effect<A, E>
): Effect.Effect<Fiber.RuntimeFiber<A, E>> => Effect.forkIn(Effect.interruptible(withFiberRefs(refs, effect)), scope)
