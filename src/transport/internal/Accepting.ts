/**
 * The accept loop shared by the listening byte-stream transports (Unix
 * socket, HTTP/2): raw connections the Node server hands over are queued
 * (a bounded backlog: past it they are refused at once) until `run` serves
 * each in its own fiber and scope.
 */
import { Effect, FiberSet, Queue, Scope } from "effect"
import type { Connection } from "../Transport.js"

/** Raw connections accepted but not yet served, before `run` starts: past this they are refused. */
const BACKLOG = 1024

export interface Accepting<T> {
  /** Hands a raw connection over from a Node event handler; `refuse` is called when the backlog is full. */
  readonly offer: (raw: T) => void
  readonly run: (handler: (connection: Connection) => Effect.Effect<void>) => Effect.Effect<void>
}

export const make = <T>(options: {
  /** Adapts a raw connection; its scope is the connection's life. */
  readonly open: (raw: T) => Effect.Effect<Connection, never, Scope.Scope>
  readonly refuse: (raw: T) => void
}): Effect.Effect<Accepting<T>> =>
  Effect.map(Queue.bounded<T>(BACKLOG), (queue) => ({
    offer: (raw) => {
      if (!Queue.unsafeOffer(queue, raw)) options.refuse(raw)
    },
    run: (handler) =>
      Effect.gen(function*() {
        const fibers = yield* FiberSet.make()
        while (true) {
          const raw = yield* Queue.take(queue)
          // the connection's scope is given to `open` only: the handler runs with the caller's services, not a copy
          // of them with the scope added, which a connection's fiber would hold for its whole life (issue 12)
          yield* FiberSet.run(
            fibers,
            Effect.acquireUseRelease(
              Scope.make(),
              (scope) => Effect.flatMap(Scope.extend(options.open(raw), scope), handler),
              (scope, exit) => Scope.close(scope, exit)
            )
          )
        }
      }).pipe(Effect.scoped)
  }))
