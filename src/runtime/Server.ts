/**
 * A ready-made server: runtime + authenticator + a transport, from one plain
 * options object. What `arcp serve` and `arcp/promise`'s `createServer` use.
 */
import { type Context, Layer } from "effect"
import type { JSONWebKeySet } from "jose"
import * as McpTools from "../mcp/McpTools.js"
import type { McpServerSpec } from "../mcp/Spec.js"
import type { TrustLevel } from "../protocol/messages/Common.js"
import type { EventLogError } from "../store/EventLog.js"
import * as MemoryEventLog from "../store/MemoryEventLog.js"
import * as SqliteEventLog from "../store/SqliteEventLog.js"
import * as Stdio from "../transport/Stdio.js"
import type { Acceptor, TransportError } from "../transport/Transport.js"
import * as WebSocket from "../transport/WebSocket.js"
import * as Auth from "./Auth.js"
import * as PermissionPolicy from "./permissions/PermissionPolicy.js"
import * as Runtime from "./Runtime.js"
import type * as RuntimeConfig from "./RuntimeConfig.js"
import * as Tools from "./Tools.js"

export interface AuthOptions {
  /** token → principal */
  readonly bearer?: ReadonlyMap<string, string> | undefined
  /** principal → trust level (§15.3), for bearer principals (and JWT subjects without a trust_level claim) */
  readonly trustLevels?: ReadonlyMap<string, TrustLevel> | undefined
  readonly jwtSecret?: string | undefined
  readonly jwtPublicKey?: string | undefined
  readonly jwks?: JSONWebKeySet | undefined
  readonly jwtRequireNonce?: boolean | undefined
  readonly allowAnonymous?: boolean | undefined
}

export type TransportOptions =
  | { readonly kind: "ws"; readonly host?: string | undefined; readonly port?: number | undefined }
  | { readonly kind: "stdio"; readonly input: Stdio.Options["input"]; readonly output: Stdio.Options["output"] }

export interface Options extends RuntimeConfig.Options {
  readonly auth: AuthOptions
  readonly transport: TransportOptions
  /** The SQLite event log file; `:memory:` keeps the log in memory (nothing survives a restart). */
  readonly db: string
  readonly tools: ReadonlyArray<Tools.Tool>
  /** MCP servers whose tools are offered as `NAME.tool` (supervised for the life of the server). */
  readonly mcp?: ReadonlyArray<McpServerSpec> | undefined
  /** Decides permission requests before the client is asked (default: always ask the client). */
  readonly permissionPolicy?: Context.Tag.Service<PermissionPolicy.PermissionPolicy> | undefined
}

/** The authenticator layer for the given options (audience = the runtime identity). */
export const authLayer = (auth: AuthOptions, audience: string): Layer.Layer<Auth.Authenticator> =>
  Auth.layer({
    audience,
    bearer: auth.bearer,
    trustLevels: auth.trustLevels,
    allowAnonymous: auth.allowAnonymous,
    ...(auth.jwtSecret !== undefined || auth.jwtPublicKey !== undefined || auth.jwks !== undefined
      ? {
        jwt: {
          secret: auth.jwtSecret,
          publicKey: auth.jwtPublicKey,
          jwks: auth.jwks,
          requireNonce: auth.jwtRequireNonce
        }
      }
      : {})
  })

const transportLayer = (options: Options): Layer.Layer<Acceptor, TransportError> =>
  options.transport.kind === "ws"
    ? WebSocket.layer({
      host: options.transport.host,
      port: options.transport.port,
      maxFrameBytes: options.maxFrameBytes
    })
    : Stdio.layer({
      input: options.transport.input,
      output: options.transport.output,
      maxFrameBytes: options.maxFrameBytes
    })

/** The event log for `db`: SQLite on a file, or in memory for `:memory:`. */
export const eventLogLayer = (
  db: string
) => (db === ":memory:" ? MemoryEventLog.layer : SqliteEventLog.layer({ filename: db }))

/** The whole server as a Layer: it serves for as long as the layer lives, and shuts down gracefully when it closes. */
export const layer = (
  options: Options
): Layer.Layer<Runtime.Provided | Runtime.Serving | Acceptor, TransportError | EventLogError> =>
  Runtime.serve.pipe(
    Layer.provideMerge(Runtime.layer(options)),
    Layer.provide(Layer.mergeAll(
      authLayer(options.auth, options.audience ?? "arcp://runtime"),
      eventLogLayer(options.db),
      options.mcp !== undefined && options.mcp.length > 0
        ? McpTools.registry({ tools: options.tools, servers: options.mcp })
        : Tools.layer(options.tools),
      options.permissionPolicy === undefined
        ? Layer.empty
        : Layer.succeed(PermissionPolicy.PermissionPolicy, options.permissionPolicy)
    )),
    Layer.provideMerge(transportLayer(options))
  )
