/**
 * Finalizers registered on the scope itself. `Effect.addFinalizer` (and `acquireRelease`, `locallyScoped`)
 * snapshots the fiber's refs, and when the scope closes diffs them against the closing fiber's twice — a walk
 * over the whole Context each time. A connection ran about ten of them, a measurable share of a handshake's
 * CPU (issue 12). These run with the refs of the fiber that closes the scope (for a connection, its own):
 * a finalizer here must not depend on services or annotations set inside the scope.
 *
 * The closers of one scope share one scope finalizer, registered with the first of them: closing runs them last
 * registered first, a plain callback with no Effect step (consecutive ones in one step), and one that fails
 * does not stop the others (the scope's close then fails with every cause, as a scope's own finalizers do).
 * So they run together where the first was registered: after every other finalizer registered later (a
 * `forkIn`'s interruption of its fiber, say), which must not need a closer registered later to have run.
 */
import { Cause, Effect, Exit, FiberRef, HashMap, Scope } from "effect"

/** What runs when a scope closes: an effect, or a plain callback. */
export type Closer = Effect.Effect<unknown> | (() => void)

const groups = new WeakMap<Scope.Scope, Array<Closer>>()

const both = (failure: Cause.Cause<never> | undefined, cause: Cause.Cause<never>) =>
  failure === undefined ? cause : Cause.sequential(failure, cause)

/** Runs `closers[i]`, then the ones before it, to the first. */
const runFrom = (
  closers: ReadonlyArray<Closer>,
  from: number,
  failed: Cause.Cause<never> | undefined
): Effect.Effect<void> =>
  Effect.suspend(() => {
    let failure = failed
    let i = from
    for (; i >= 0; i--) {
      const closer = closers[i]
      if (closer === undefined || Effect.isEffect(closer)) break
      try {
        closer()
      } catch (defect) {
        failure = both(failure, Cause.die(defect))
      }
    }
    const next = closers[i]
    if (next === undefined || !Effect.isEffect(next)) {
      return failure === undefined ? Effect.void : Effect.failCause(failure)
    }
    return Effect.flatMap(
      Effect.exit(next),
      (exit) => runFrom(closers, i - 1, Exit.isFailure(exit) ? both(failure, exit.cause) : failure)
    )
  })

/** Runs `closer` when `scope` closes (last registered, first run). */
export const onCloseOf = (scope: Scope.Scope, closer: Closer): Effect.Effect<void> =>
  Effect.suspend(() => {
    const group = groups.get(scope)
    if (group !== undefined) {
      group.push(closer)
      return Effect.void
    }
    const closers = [closer]
    groups.set(scope, closers)
    return Scope.addFinalizer(
      scope,
      Effect.suspend(() => {
        // closed: a closer registered from now on gets a finalizer of its own (run at once, the scope being closed)
        groups.delete(scope)
        return runFrom(closers, closers.length - 1, undefined)
      })
    )
  })

/** Runs `closer` when the current scope closes (last registered, first run). */
export const onClose = (closer: Closer): Effect.Effect<void, never, Scope.Scope> =>
  Effect.flatMap(Effect.scope, (scope) => onCloseOf(scope, closer))

/** `ref` set to `value` until the current scope closes, then back to what it was (`Effect.locallyScoped`, leaner). */
export const locallyUntilClose = <A>(ref: FiberRef.FiberRef<A>, value: A): Effect.Effect<void, never, Scope.Scope> =>
  Effect.flatMap(FiberRef.getAndSet(ref, value), (previous) => onClose(FiberRef.set(ref, previous)))

/** Every later log line of this fiber carries `key`, until the current scope closes (`Effect.annotateLogsScoped`, leaner). */
export const annotateLogsUntilClose = (key: string, value: unknown): Effect.Effect<void, never, Scope.Scope> =>
  Effect.flatMap(
    FiberRef.get(FiberRef.currentLogAnnotations),
    (annotations) => locallyUntilClose(FiberRef.currentLogAnnotations, HashMap.set(annotations, key, value))
  )
