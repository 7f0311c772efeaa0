/**
 * Finalizers registered on the scope itself. `Effect.addFinalizer` (and `acquireRelease`, `locallyScoped`)
 * snapshots the fiber's refs, and when the scope closes diffs them against the closing fiber's twice — a walk
 * over the whole Context each time. A connection ran about ten of them, a measurable share of a handshake's
 * CPU (issue 12). These run with the refs of the fiber that closes the scope (for a connection, its own):
 * a finalizer here must not depend on services or annotations set inside the scope.
 */
import { Effect, FiberRef, HashMap, Scope } from "effect"

/** Runs `finalizer` when the current scope closes (last registered, first run). */
export const onClose = (finalizer: Effect.Effect<unknown>): Effect.Effect<void, never, Scope.Scope> =>
  Effect.flatMap(Effect.scope, (scope) => Scope.addFinalizer(scope, finalizer))

/** `ref` set to `value` until the current scope closes, then back to what it was (`Effect.locallyScoped`, leaner). */
export const locallyUntilClose = <A>(ref: FiberRef.FiberRef<A>, value: A): Effect.Effect<void, never, Scope.Scope> =>
  Effect.flatMap(FiberRef.getAndSet(ref, value), (previous) => onClose(FiberRef.set(ref, previous)))

/** Every later log line of this fiber carries `key`, until the current scope closes (`Effect.annotateLogsScoped`, leaner). */
export const annotateLogsUntilClose = (key: string, value: unknown): Effect.Effect<void, never, Scope.Scope> =>
  Effect.flatMap(
    FiberRef.get(FiberRef.currentLogAnnotations),
    (annotations) => locallyUntilClose(FiberRef.currentLogAnnotations, HashMap.set(annotations, key, value))
  )
