/**
 * The runtime as one Layer: `ArcpRuntime.layer(options)` composes the config,
 * the session registry and the connection loop; `serve` runs it on whatever
 * transport provides the `Acceptor` (WebSocket, stdio, memory).
 */
import { Context, Deferred, Effect, Exit, FiberId, Layer } from "effect"
import { onClose, onCloseOf } from "../internal/OnClose.js"
import type { ArtifactStore } from "../store/ArtifactStore.js"
import { EventLog } from "../store/EventLog.js"
import type { ScheduleStore } from "../store/ScheduleStore.js"
import { Acceptor, type Connection } from "../transport/Transport.js"
import * as Artifacts from "./artifacts/Artifacts.js"
import { Authenticator } from "./auth/Auth.js"
import * as ConnectionLoop from "./Connection.js"
import * as Handoff from "./delegation/Handoff.js"
import * as Handover from "./delegation/Handover.js"
import * as Receive from "./delegation/Receive.js"
import * as Remotes from "./delegation/Remotes.js"
import { RuntimeInstance } from "./durable/Instance.js"
import * as LogRetention from "./durable/LogRetention.js"
import type * as EventBus from "./events/EventBus.js"
import * as Events from "./events/Events.js"
import * as Feed from "./events/Feed.js"
import * as HumanAudience from "./events/HumanAudience.js"
import * as Recorder from "./events/Recorder.js"
import * as Subscriptions from "./events/Subscriptions.js"
import * as ToolDiscovery from "./extensions/ToolDiscovery.js"
import * as HumanInput from "./HumanInput.js"
import * as Heartbeats from "./internal/Heartbeats.js"
import * as Jobs from "./jobs/Jobs.js"
import * as Permissions from "./permissions/Permissions.js"
import { makeExtensionRoutes, makeRoutes } from "./Router.js"
import * as RuntimeConfig from "./RuntimeConfig.js"
import * as Scheduler from "./scheduler/Scheduler.js"
import * as Sessions from "./Sessions.js"
import * as Streams from "./Streams.js"
import { ToolRegistry } from "./Tools.js"
import * as SpanWatchers from "./tracing/SpanWatchers.js"
import * as TracedLog from "./tracing/TracedLog.js"
import * as Workflows from "./workflows/Workflows.js"

/** The runtime: serves connections. */
export class ArcpRuntime extends Context.Tag("arcp/ArcpRuntime")<ArcpRuntime, {
  /** Runs the protocol on one connection until it closes. Never fails. */
  readonly handle: (connection: Connection) => Effect.Effect<void>
  readonly settings: RuntimeConfig.Settings
  /**
   * Ends every connection gracefully: open sessions get `session.evicted`
   * UNAVAILABLE (§8.5) and their jobs are detached as for a dropped connection;
   * completes when every connection being handled has finished.
   */
  readonly shutdown: Effect.Effect<void>
}>() {}

/** A running server (`serve`): `stopped` completes when its acceptor stops (for stdio, when the input ends). */
export class Serving extends Context.Tag("arcp/Serving")<Serving, {
  readonly stopped: Effect.Effect<void>
}>() {}

/** Builds the runtime from its services. */
export const make = Effect.gen(function*() {
  const settings = yield* RuntimeConfig.RuntimeConfig
  const jobs = yield* Jobs.Jobs
  const scheduler = yield* Scheduler.Scheduler
  const tools = yield* ToolRegistry
  const permissions = yield* Permissions.Permissions
  const subscriptions = yield* Subscriptions.Subscriptions
  const receive: Receive.ReceiveServices = {
    jobs,
    tools,
    settings,
    permissions
  }
  // what each connection does when the runtime shuts down (ConnectionLoop.Dependencies.atShutdown)
  const goodbyes = new Set<Effect.Effect<void>>()
  let stopped = false
  // one Deferred per connection being handled, completed when its loop has finished
  const active = new Set<Deferred.Deferred<void>>()
  const deps: ConnectionLoop.Dependencies = {
    settings,
    authenticator: yield* Authenticator,
    sessions: yield* Sessions.Sessions,
    log: yield* EventLog,
    recorder: yield* Recorder.Recorder,
    jobs,
    routes: makeRoutes({
      jobs,
      humanInput: yield* HumanInput.HumanInput,
      streams: yield* Streams.Streams,
      artifacts: yield* Artifacts.Artifacts,
      maxFrameBytes: settings.maxFrameBytes,
      permissions,
      scheduler,
      coordination: {
        delegate: Receive.delegate(receive),
        handoff: Handoff.handoff({
          ...receive,
          handovers: yield* Handover.Handovers,
          remotes: yield* Effect.serviceOption(Remotes.Remotes)
        }),
        workflowStart: Workflows.start({ jobs, tools })
      },
      resume: { log: yield* EventLog, feed: yield* Feed.Feed, settings },
      subscriptions
    }),
    extensionRoutes: makeExtensionRoutes({ scheduler }),
    atShutdown: (goodbye) =>
      // checked and added in one step: a shutdown cannot slip in between
      Effect.suspend(() => {
        if (stopped) return Effect.asVoid(Effect.forkDaemon(goodbye))
        goodbyes.add(goodbye)
        return onClose(() => {
          goodbyes.delete(goodbye)
        })
      }),
    deadlines: yield* Heartbeats.make,
    instanceId: (yield* RuntimeInstance).id,
    subscriptions,
    spanWatchers: yield* SpanWatchers.SpanWatchers,
    extensions: [ToolDiscovery.handler(() => tools.list, permissions.elevation)]
  }
  // (a plain Set and `ensuring`, not a Ref of a HashSet and `acquireUseRelease`: this runs per connection, issue 12)
  const handle = (connection: Connection) => {
    const { scope } = connection
    if (connection.ownFiber !== true || scope === undefined) return serveTracked(connection)
    // on a fiber of its own the connection's end is its scope's (it may outlive a fiber that suspends): told by the
    // scope, with no frame kept on a fiber's stack for the connection's life (an idle session's memory, issue 12)
    const done = Deferred.unsafeMake<void>(FiberId.none)
    return onCloseOf(scope, () => {
      active.delete(done)
      Deferred.unsafeDone(done, Exit.void)
    }).pipe(
      Effect.zipRight(Effect.sync(() => active.add(done))),
      Effect.zipRight(ConnectionLoop.serve(deps, connection))
    )
  }
  const serveTracked = (connection: Connection) =>
    Effect.uninterruptibleMask((restore) => {
      const done = Deferred.unsafeMake<void>(FiberId.none)
      active.add(done)
      return Effect.ensuring(
        restore(ConnectionLoop.serve(deps, connection)),
        Effect.suspend(() => {
          active.delete(done)
          return Deferred.succeed(done, undefined)
        })
      )
    })
  const shutdown = Effect.gen(function*() {
    const farewells = yield* Effect.sync(() => {
      stopped = true
      return [...goodbyes]
    })
    // every connection's goodbye at once (an eviction waits up to the close grace for its reader)
    yield* Effect.fork(Effect.forEach(farewells, (goodbye) => goodbye, { concurrency: "unbounded", discard: true }))
    const open = [...active]
    yield* Effect.logInfo(`shutting down: ending ${open.length} connection(s)`)
    yield* Effect.forEach(open, Deferred.await, { discard: true }).pipe(
      Effect.timeoutTo({
        duration: "10 seconds",
        onSuccess: () => Effect.void,
        onTimeout: () => Effect.logWarning("shutdown: some connections did not end within 10 s; they are cut")
      }),
      Effect.flatten
    )
  })
  return ArcpRuntime.of({ settings, handle, shutdown })
})

/** What the runtime exposes besides itself, for embedding apps and tests. */
export type Provided =
  | ArcpRuntime
  | Sessions.Sessions
  | RuntimeConfig.RuntimeConfig
  | Jobs.Jobs
  | HumanInput.HumanInput
  | Streams.Streams
  | Scheduler.Scheduler
  | Permissions.Permissions
  | Artifacts.Artifacts
  | LogRetention.LogRetention
  | EventBus.EventBus
  | Feed.Feed
  | Recorder.Recorder
  | Subscriptions.Subscriptions

/**
 * The runtime with its config, session registry, jobs, streams, human-input,
 * permission and artifacts services, the scheduler and the event path (EventBus, Recorder, Feed). It needs an `Authenticator` (`Auth.layer`),
 * an `EventLog` and a `ScheduleStore` (`SqliteEventLog.layer` or `MemoryEventLog.layer` provide both),
 * an `ArtifactStore` (`FileArtifactStore.layer` or `MemoryArtifactStore.layer`) and a `ToolRegistry`
 * (`Tools.layer`).
 * A `PermissionPolicy` provided to it decides permission requests; without one the client is asked.
 */
export const layer = (
  options: RuntimeConfig.Options = {}
): Layer.Layer<Provided, never, Authenticator | EventLog | ScheduleStore | ArtifactStore | ToolRegistry> =>
  Layer.scoped(ArcpRuntime, make).pipe(
    Layer.provideMerge(Subscriptions.layer),
    Layer.provideMerge(SpanWatchers.layer),
    Layer.provideMerge(Scheduler.layer),
    Layer.provideMerge(Jobs.layer),
    Layer.provideMerge(Handover.layer),
    Layer.provideMerge(Remotes.layer),
    Layer.provideMerge(Permissions.layer),
    Layer.provideMerge(Artifacts.layer),
    Layer.provideMerge(LogRetention.layer),
    Layer.provideMerge(Layer.mergeAll(Sessions.layer, HumanInput.layer, Streams.layer)),
    Layer.provideMerge(Layer.merge(RuntimeConfig.layer(options), HumanAudience.layer)),
    Layer.provideMerge(Events.layer),
    // the log's awaited writes as spans (§17.1)
    Layer.provide(TracedLog.layer)
  )

/**
 * Runs the runtime on the provided transport for the life of the layer.
 * Closing the layer shuts down gracefully (`ArcpRuntime.shutdown`) before the
 * transport stops.
 */
export const serve: Layer.Layer<Serving, never, ArcpRuntime | Acceptor> = Layer.scoped(
  Serving,
  Effect.gen(function*() {
    const runtime = yield* ArcpRuntime
    const acceptor = yield* Acceptor
    const stopped = yield* Deferred.make<void>()
    yield* Effect.logInfo(`arcp runtime listening on ${acceptor.address}`)
    yield* acceptor.run(runtime.handle).pipe(
      Effect.catchAllCause((cause) => Effect.logError("acceptor stopped", cause)),
      Effect.ensuring(Deferred.succeed(stopped, undefined)),
      Effect.forkScoped
    )
    // finalizers run last-added first: the sessions are told before the acceptor fiber is interrupted
    yield* Effect.addFinalizer(() => runtime.shutdown)
    return Serving.of({ stopped: Deferred.await(stopped) })
  })
)
