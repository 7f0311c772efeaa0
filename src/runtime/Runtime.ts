/**
 * The runtime as one Layer: `ArcpRuntime.layer(options)` composes the config,
 * the session registry and the connection loop; `serve` runs it on whatever
 * transport provides the `Acceptor` (WebSocket, stdio, memory).
 */
import { Context, Effect, Layer } from "effect"
import { Acceptor, type Connection } from "../transport/Transport.js"
import { Authenticator } from "./Auth.js"
import * as ConnectionLoop from "./Connection.js"
import { coreRoutes, type RouteTable } from "./Router.js"
import * as RuntimeConfig from "./RuntimeConfig.js"
import * as Sessions from "./Sessions.js"

/** The runtime: serves connections. */
export class ArcpRuntime extends Context.Tag("arcp/ArcpRuntime")<ArcpRuntime, {
  /** Runs the protocol on one connection until it closes. Never fails. */
  readonly handle: (connection: Connection) => Effect.Effect<void>
  readonly settings: RuntimeConfig.Settings
}>() {}

/** Builds the runtime from its services. */
export const make = (routes: RouteTable = coreRoutes) =>
  Effect.gen(function*() {
    const settings = yield* RuntimeConfig.RuntimeConfig
    const deps: ConnectionLoop.Dependencies = {
      settings,
      authenticator: yield* Authenticator,
      sessions: yield* Sessions.Sessions,
      routes
    }
    return ArcpRuntime.of({ settings, handle: (connection) => ConnectionLoop.serve(deps, connection) })
  })

/**
 * The runtime with its config and session registry; it needs an `Authenticator`
 * (see `Auth.layer`). Also exposes `Sessions` and `RuntimeConfig` for embedding apps.
 */
export const layer = (
  options: RuntimeConfig.Options = {}
): Layer.Layer<ArcpRuntime | Sessions.Sessions | RuntimeConfig.RuntimeConfig, never, Authenticator> =>
  Layer.effect(ArcpRuntime, make()).pipe(
    Layer.provideMerge(Layer.merge(Sessions.layer, RuntimeConfig.layer(options)))
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
