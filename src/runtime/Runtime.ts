/**
 * The runtime as one Layer: `ArcpRuntime.layer(options)` composes the config,
 * the session registry and the connection loop; `serve` runs it on whatever
 * transport provides the `Acceptor` (WebSocket, stdio, memory).
 */
import { Context, Effect, Layer } from "effect"
import { EventLog } from "../store/EventLog.js"
import { Acceptor, type Connection } from "../transport/Transport.js"
import { Authenticator } from "./Auth.js"
import * as ConnectionLoop from "./Connection.js"
import * as HumanInput from "./HumanInput.js"
import * as Jobs from "./Jobs.js"
import { makeRoutes } from "./Router.js"
import * as RuntimeConfig from "./RuntimeConfig.js"
import * as Sessions from "./Sessions.js"
import type { ToolRegistry } from "./Tools.js"

/** The runtime: serves connections. */
export class ArcpRuntime extends Context.Tag("arcp/ArcpRuntime")<ArcpRuntime, {
  /** Runs the protocol on one connection until it closes. Never fails. */
  readonly handle: (connection: Connection) => Effect.Effect<void>
  readonly settings: RuntimeConfig.Settings
}>() {}

/** Builds the runtime from its services. */
export const make = Effect.gen(function*() {
    const settings = yield* RuntimeConfig.RuntimeConfig
    const jobs = yield* Jobs.Jobs
    const deps: ConnectionLoop.Dependencies = {
      settings,
      authenticator: yield* Authenticator,
      sessions: yield* Sessions.Sessions,
      log: yield* EventLog,
      jobs,
      routes: makeRoutes({ jobs, humanInput: yield* HumanInput.HumanInput })
    }
    return ArcpRuntime.of({ settings, handle: (connection) => ConnectionLoop.serve(deps, connection) })
  })

/** What the runtime exposes besides itself, for embedding apps and tests. */
export type Provided = ArcpRuntime | Sessions.Sessions | RuntimeConfig.RuntimeConfig | Jobs.Jobs | HumanInput.HumanInput

/**
 * The runtime with its config, session registry, jobs and human-input
 * services. It needs an `Authenticator` (`Auth.layer`), an `EventLog`
 * (`SqliteEventLog.layer` or `MemoryEventLog.layer`) and a `ToolRegistry` (`Tools.layer`).
 */
export const layer = (
  options: RuntimeConfig.Options = {}
): Layer.Layer<Provided, never, Authenticator | EventLog | ToolRegistry> =>
  Layer.effect(ArcpRuntime, make).pipe(
    Layer.provideMerge(Jobs.layer),
    Layer.provideMerge(Layer.mergeAll(Sessions.layer, RuntimeConfig.layer(options), HumanInput.layer))
  )

/** Runs the runtime on the provided transport for the life of the layer. */
export const serve: Layer.Layer<never, never, ArcpRuntime | Acceptor> = Layer.scopedDiscard(
  Effect.gen(function*() {
    const runtime = yield* ArcpRuntime
    const acceptor = yield* Acceptor
    yield* Effect.logInfo(`arcp runtime listening on ${acceptor.address}`)
    yield* acceptor.run(runtime.handle).pipe(
      Effect.catchAllCause((cause) => Effect.logError("acceptor stopped", cause)),
      Effect.forkScoped
    )
  })
)
