/**
 * How the listening transports (WebSocket, Unix socket, HTTP/2) hand their raw connections to the runtime:
 * once `run` has started, each connection the Node server hands over is served at once, from the Node
 * callback, in a fiber and scope of its own; before that, they wait in a bounded backlog (past it they are
 * refused at once). No accept fiber and no queue between the socket and its fiber: a handshake's share of
 * them was a queue take, a fiber hand-off and a `FiberSet`'s bookkeeping per connection (issue 12).
 */
import {
  Array as Arr,
  Context,
  Effect,
  Fiber,
  type FiberId,
  type FiberRef,
  FiberRefs,
  Option,
  Runtime,
  RuntimeFlags,
  Scope,
  Tracer
} from "effect"
import type { Connection } from "../Transport.js"

/** Raw connections accepted but not yet served, before `run` starts: past this they are refused. */
const BACKLOG = 1024

type ChangedRefs = ReadonlyArray<readonly [FiberRef.FiberRef<unknown>, unknown]>

/** The refs whose value in `current` is not the one in `base`, with that value. */
const changedRefs = (base: FiberRefs.FiberRefs, current: FiberRefs.FiberRefs): ChangedRefs => {
  const changed: Array<readonly [FiberRef.FiberRef<unknown>, unknown]> = []
  current.locals.forEach((stack, ref) => {
    const value: unknown = stack[0][1]
    if (base.locals.get(ref)?.[0][1] !== value) changed.push([ref, value])
  })
  return changed
}

/** A suspended connection's next fiber's refs: the runtime's, with `refs` set again. */
const withRefs = (refs: ChangedRefs) => (initial: FiberRefs.FiberRefs, id: FiberId.Runtime): FiberRefs.FiberRefs => {
  const entries = refs.map((
    [ref, value]
  ): readonly [FiberRef.FiberRef<unknown>, Arr.NonEmptyReadonlyArray<readonly [FiberId.Single, unknown]>] => [
    ref,
    [[id, value]]
  ])
  return Arr.isNonEmptyReadonlyArray(entries) ? FiberRefs.updateManyAs(initial, { forkAs: id, entries }) : initial
}

export interface Accepting<T> {
  /** Hands a raw connection over from a Node event handler; `refuse` is called when the backlog is full. */
  readonly offer: (raw: T) => void
  /** Serves every connection with `handler` until interrupted, which interrupts the connections' fibers. */
  readonly run: (handler: (connection: Connection) => Effect.Effect<void>) => Effect.Effect<void>
}

export const make = <T>(options: {
  /** Adapts a raw connection; its scope is the connection's life. */
  readonly open: (raw: T) => Effect.Effect<Connection, never, Scope.Scope>
  readonly refuse: (raw: T) => void
}): Effect.Effect<Accepting<T>> =>
  Effect.sync(() => {
    let backlog: Array<T> = []
    // the running `run`s, the latest last: it serves what arrives
    const servers: Array<(raw: T) => void> = []
    return {
      offer: (raw) => {
        const serve = servers[servers.length - 1]
        if (serve !== undefined) return serve(raw)
        if (backlog.length >= BACKLOG) return options.refuse(raw)
        backlog.push(raw)
      },
      run: (handler) =>
        Effect.flatMap(Effect.runtime<never>(), (runtime) =>
          Effect.uninterruptibleMask((restore) => {
            // the connections' running fibers, and how to end each suspended one (with no fiber)
            const fibers = new Set<Fiber.RuntimeFiber<void>>()
            const suspended = new Set<() => void>()
            // a connection's fiber starts uninterruptible, whatever `run` was started in, so that its `onExit` is in
            // place before an interruption can land (one sent to a fiber not yet running would otherwise end it
            // before its first step, the scope left open); the connection's work runs interruptible inside: closing
            // the connection from another fiber interrupts it
            // a connection's fibers run with no services in their context, only the caller's span: the runtime took
            // every service it uses when it was built, and each span and job copies the context it runs in (a Map of
            // the runtime's ~27 services, ~2 KB and a few µs per copy: ~7 KB of an echo, issue 12)
            const context = Option.match(Context.getOption(runtime.context, Tracer.ParentSpan), {
              onNone: () => Context.empty(),
              onSome: (span) => Context.make(Tracer.ParentSpan, span)
            })
            const base = Runtime.disableRuntimeFlag(
              Runtime.make({ context, fiberRefs: runtime.fiberRefs, runtimeFlags: runtime.runtimeFlags }),
              RuntimeFlags.Interruption
            )
            const fork = Runtime.runFork(base)
            const serve = (raw: T) => {
              // the scope of the connection's life: made by its first fiber, closed by the one that ends without
              // suspending. One `onExit` per fiber closes it (not `acquireUseRelease`: fewer frames on its stack)
              let scope: Scope.CloseableScope | undefined
              // the connection's current fiber: whether it suspended (its end then leaves the connection open)
              let current = { suspended: false }
              const start = (effect: Effect.Effect<void>, refs?: ChangedRefs) => {
                const turn = { suspended: false }
                current = turn
                const fiber = fork(
                  Effect.onExit(Effect.interruptible(effect), (exit) =>
                    turn.suspended || scope === undefined ? Effect.void : Scope.close(scope, exit)),
                  // a later fiber starts on the next turn of the scheduler (as a resumed fiber would), with the refs of the
                  // fiber that suspended
                  refs === undefined
                    ? undefined
                    : {
                      immediate: false,
                      updateRefs: withRefs(refs)
                    }
                )
                fibers.add(fiber)
                fiber.addObserver(() =>
                  fibers.delete(fiber)
                )
              }
              const suspend = (arm: (resume: () => void) => void, next: Effect.Effect<void>) =>
                Effect.withFiberRuntime<void>((fiber) => {
                  current.suspended = true
                  // kept as the refs the connection changed (its log annotations, say): a few entries, not a copy of all
                  const refs = changedRefs(base.fiberRefs, fiber.getFiberRefs())
                  let resumed = false
                  const resumeWith = (effect: Effect.Effect<void>) => {
                    if (resumed) return
                    resumed = true
                    suspended.delete(end)
                    start(effect, refs)
                  }
                  // the transport stopping ends a suspended connection as it interrupts a running one
                  const end = () => resumeWith(Effect.interrupt)
                  suspended.add(end)
                  arm(() => resumeWith(next))
                  return Effect.void
                })
              // the connection's scope is given to `open` and, as a field, to the handler: the handler runs with the
              // caller's services, not a copy of them with the scope added, which a connection's fiber would hold for
              // its whole life
              start(Effect.flatMap(Scope.make(), (made) => {
                scope = made
                return Effect.flatMap(
                  Scope.extend(options.open(raw), made),
                  (connection) => handler({ ...connection, ownFiber: true, scope: made, suspend })
                )
              }))
            }
            // every connection ended: the suspended ones on a fiber of their own, then every fiber interrupted
            const stopAll: Effect.Effect<void> = Effect.suspend(() => {
              for (const end of [...suspended]) end()
              return fibers.size === 0 ? Effect.void : Effect.zipRight(Fiber.interruptAll([...fibers]), stopAll)
            })
            servers.push(serve)
            const waiting = backlog
            backlog = []
            for (const raw of waiting) serve(raw)
            return restore(Effect.never).pipe(
              Effect.ensuring(Effect.suspend(() => {
                servers.splice(servers.indexOf(serve), 1)
                return stopAll
              }))
            )
          }))
    }
  })
