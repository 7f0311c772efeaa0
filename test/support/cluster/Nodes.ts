/**
 * Runtimes in one process sharing one store and one bus (test/support/cluster/ClusterBus), each on its own
 * WebSocket port: what several `arcp serve` on one PostgreSQL are, minus the processes. A node can
 * be stopped cleanly, or killed: its store connection cut first (nothing it does lands any more,
 * not even its stop), then its scope closed, as a `kill -9` leaves the store.
 */
import { Context, Effect, Exit, Layer, ManagedRuntime, type PubSub, Scope } from "effect"
import type * as Runtime from "../../../src/runtime/Runtime.js"
import type * as RuntimeConfig from "../../../src/runtime/RuntimeConfig.js"
import { EventLog, EventLogError } from "../../../src/store/EventLog.js"
import { ScheduleStore } from "../../../src/store/ScheduleStore.js"
import { Acceptor } from "../../../src/transport/Transport.js"
import * as WebSocket from "../../../src/transport/WebSocket.js"
import { serverLayer } from "../Harness.js"
import { nodeBus } from "./ClusterBus.js"

type LogService = Context.Tag.Service<typeof EventLog>

const cut = new EventLogError({ reason: "Write", message: "the node was killed" })

/** `log` as one node sees it, until `dead()`: then every call fails as a lost connection does. */
export const killable = (log: LogService, dead: () => boolean): LogService => {
  const guard = (effect: Effect.Effect<unknown, unknown>): Effect.Effect<unknown, unknown> =>
    Effect.suspend(() => (dead() ? Effect.fail(cut) : effect))
  const wrapped: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(log) as Array<[string, unknown]>) {
    wrapped[key] = Effect.isEffect(value)
      ? guard(value as Effect.Effect<unknown, unknown>)
      : typeof value === "function"
      ? (...args: Array<unknown>) => {
        const result: unknown = (value as (...a: Array<unknown>) => unknown)(...args)
        return Effect.isEffect(result) ? guard(result as Effect.Effect<unknown, unknown>) : result
      }
      : value
  }
  // the write-and-forget stage stays infallible: a killed node's staged writes are dropped
  wrapped.stageJob = (job: Parameters<LogService["stageJob"]>[0]) =>
    Effect.suspend(() => (dead() ? Effect.void : log.stageJob(job)))
  return EventLog.of(wrapped as unknown as LogService)
}

export interface Node {
  readonly url: string
  readonly runtime: ManagedRuntime.ManagedRuntime<Runtime.Provided | EventLog | Acceptor, unknown>
  /** Stops it cleanly (its stop is recorded). */
  readonly stop: () => Promise<void>
  /** Cuts its store connection, then stops it: to the others it simply went silent. */
  readonly kill: () => Promise<void>
}

/** The shared store: a `Context` of EventLog and ScheduleStore built once. */
export type Store = Context.Context<EventLog | ScheduleStore>

/** Builds the store from `layer` for the life of `scope`. */
export const shareStore = (layer: Layer.Layer<EventLog | ScheduleStore, EventLogError>, scope: Scope.Scope) =>
  Effect.runPromise(Layer.buildWithScope(layer, scope))

/**
 * Starts a node on `store` (or on its own connection to it: `connect` builds one per node, as two
 * processes on one SQLite file have) and the cluster's `channel`.
 */
export const startNode = async (options: {
  readonly store?: Store | undefined
  readonly connect?: Layer.Layer<EventLog | ScheduleStore, EventLogError> | undefined
  readonly channel: PubSub.PubSub<void>
  readonly runtime?: RuntimeConfig.Options | undefined
}): Promise<Node> => {
  let dead = false
  const base: Layer.Layer<EventLog | ScheduleStore, EventLogError> = options.store !== undefined
    ? Layer.succeedContext(options.store)
    : options.connect ?? Layer.die("a node needs a store or a connection")
  const guarded = Layer.effectContext(
    Effect.gen(function*() {
      const log = yield* EventLog
      const schedules = yield* ScheduleStore
      return Context.make(EventLog, killable(log, () => dead)).pipe(Context.add(ScheduleStore, schedules))
    })
  ).pipe(Layer.provide(base))
  const layer = serverLayer({
    transport: WebSocket.layer({ host: "127.0.0.1", port: 0 }),
    eventLog: guarded,
    bus: nodeBus(options.channel),
    runtime: { resumeWindow: "1 hour", ...options.runtime }
  })
  const runtime = ManagedRuntime.make(layer)
  const acceptor = await runtime.runPromise(Acceptor)
  return {
    url: acceptor.address,
    runtime,
    stop: () => runtime.dispose(),
    kill: async () => {
      dead = true
      await runtime.dispose()
    }
  }
}

/** A scope for the shared store, closed by `close`. */
export const storeScope = () => {
  const scope = Effect.runSync(Scope.make())
  return { scope, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}
