/**
 * A ready-made server: runtime + authenticator + a transport, from one plain
 * options object. What `arcp serve` and `arcp/promise`'s `createServer` use.
 */
import { type Context, Effect, Layer } from "effect"
import type { JSONWebKeySet } from "jose"
import { basename, dirname, extname, join } from "node:path"
import * as McpTools from "../mcp/McpTools.js"
import type { McpServerSpec } from "../mcp/Spec.js"
import type { TrustLevel } from "../protocol/messages/Common.js"
import type { ArtifactStore, ArtifactStoreError } from "../store/ArtifactStore.js"
import { type EventLog, EventLogError } from "../store/EventLog.js"
import * as FileArtifactStore from "../store/FileArtifactStore.js"
import * as MemoryArtifactStore from "../store/MemoryArtifactStore.js"
import * as MemoryEventLog from "../store/MemoryEventLog.js"
import { isPostgresUrl } from "../store/postgres/Url.js"
import type { ScheduleStore } from "../store/ScheduleStore.js"
import * as SqliteEventLog from "../store/SqliteEventLog.js"
import * as Combined from "../transport/Combined.js"
import * as Http2 from "../transport/Http2.js"
import * as Stdio from "../transport/Stdio.js"
import type * as Tls from "../transport/Tls.js"
import type { Acceptor, TransportError } from "../transport/Transport.js"
import * as UnixSocket from "../transport/UnixSocket.js"
import * as WebSocket from "../transport/WebSocket.js"
import type { UpgradeSource } from "../transport/WebSocketUpgrade.js"
import * as Auth from "./auth/Auth.js"
import type * as Mtls from "./auth/Mtls.js"
import type * as OAuth2 from "./auth/OAuth2.js"
import type { ObserveGrant } from "./events/Observation.js"
import * as PermissionPolicy from "./permissions/PermissionPolicy.js"
import * as Runtime from "./Runtime.js"
import type * as RuntimeConfig from "./RuntimeConfig.js"
import * as Tools from "./Tools.js"
import * as Otlp from "./tracing/Otlp.js"

export interface AuthOptions {
  /** token → principal */
  readonly bearer?: ReadonlyMap<string, string> | undefined
  /** principal → trust level (§15.3), for bearer principals (and JWT subjects without a trust_level claim) */
  readonly trustLevels?: ReadonlyMap<string, TrustLevel> | undefined
  /** principal → whose sessions it may observe besides its own (§13): "*" or a list of principals */
  readonly observers?: ReadonlyMap<string, ObserveGrant> | undefined
  readonly jwtSecret?: string | undefined
  readonly jwtPublicKey?: string | undefined
  readonly jwks?: JSONWebKeySet | undefined
  readonly jwtRequireNonce?: boolean | undefined
  readonly allowAnonymous?: boolean | undefined
  /** Accept `mtls`: the principal from the verified client certificate (needs a TLS transport asking for one). */
  readonly mtls?: Mtls.MtlsOptions | undefined
  /** Accept `oauth2` access tokens: JWTs against a JWKS, or introspection (RFC 7662). */
  readonly oauth2?: OAuth2.OAuth2Options | undefined
}

export type TransportOptions =
  | {
    readonly kind: "ws"
    readonly host?: string | undefined
    readonly port?: number | undefined
    readonly path?: string | undefined
    /** `wss://`: certificate, key, and client certificates when asked for. */
    readonly tls?: Tls.ServerTls | undefined
  }
  /** WebSocket upgrades of `path` on an application's own HTTP(S) server (`attach`). */
  | { readonly kind: "attach"; readonly server: UpgradeSource; readonly path: string }
  | { readonly kind: "stdio"; readonly input: Stdio.Options["input"]; readonly output: Stdio.Options["output"] }
  | { readonly kind: "unix"; readonly path: string; readonly mode?: number | undefined }
  | {
    readonly kind: "http2"
    readonly host?: string | undefined
    readonly port?: number | undefined
    readonly tls?: Http2.ServerOptions["tls"]
  }

export interface Options extends RuntimeConfig.Options {
  readonly auth: AuthOptions
  /** One transport, or several serving the same runtime at once. */
  readonly transport: TransportOptions | ReadonlyArray<TransportOptions>
  /** The SQLite event log file; `:memory:` keeps the log in memory (nothing survives a restart). */
  readonly db: string
  /**
   * A PostgreSQL URL (`postgres://...`): the whole store there instead of `db` — event log, records,
   * artifact metadata and the event bus (LISTEN/NOTIFY), shareable by several runtimes.
   */
  readonly store?: string | undefined
  /**
   * `normal` (default): WAL + synchronous=NORMAL (PostgreSQL: synchronous_commit off); `full`: an fsync per
   * group commit (PostgreSQL: on). Ignored for `:memory:`.
   */
  readonly durability?: Durability | undefined
  /**
   * Where artifact bytes go (default: `<db name>.artifacts/` next to `db`; `arcp.artifacts` with a PostgreSQL
   * `store`, where several runtimes need one directory they all reach); unused with `db` `:memory:`.
   */
  readonly artifactsDir?: string | undefined
  readonly tools: ReadonlyArray<Tools.Tool>
  /** MCP servers whose tools are offered as `NAME.tool` (supervised for the life of the server). */
  readonly mcp?: ReadonlyArray<McpServerSpec> | undefined
  /** Decides permission requests before the client is asked (default: always ask the client). */
  readonly permissionPolicy?: Context.Tag.Service<PermissionPolicy.PermissionPolicy> | undefined
  /** OTLP span export (§17.1): on with an endpoint or the standard OTEL_EXPORTER_OTLP_* variables; off otherwise. */
  readonly otlp?: Otlp.OtlpOptions | undefined
}

/** The authenticator layer for the given options (audience = the runtime identity). */
export const authLayer = (auth: AuthOptions, audience: string): Layer.Layer<Auth.Authenticator> =>
  Auth.layer({
    audience,
    bearer: auth.bearer,
    trustLevels: auth.trustLevels,
    observers: auth.observers,
    allowAnonymous: auth.allowAnonymous,
    mtls: auth.mtls,
    oauth2: auth.oauth2,
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

const oneTransport = (transport: TransportOptions, maxFrameBytes: number | undefined) => {
  switch (transport.kind) {
    case "ws":
      return WebSocket.layer({
        host: transport.host,
        port: transport.port,
        path: transport.path,
        tls: transport.tls,
        maxFrameBytes
      })
    case "attach":
      return WebSocket.attachLayer(transport.server, { path: transport.path, maxFrameBytes })
    case "stdio":
      return Stdio.layer({ input: transport.input, output: transport.output, maxFrameBytes })
    case "unix":
      return UnixSocket.layer({ path: transport.path, mode: transport.mode, maxFrameBytes })
    case "http2":
      return Http2.layer({ host: transport.host, port: transport.port, tls: transport.tls, maxFrameBytes })
  }
}

const isSeveral = (t: Options["transport"]): t is ReadonlyArray<TransportOptions> => Array.isArray(t)

const transportLayer = ({ maxFrameBytes, transport }: Options): Layer.Layer<Acceptor, TransportError> =>
  isSeveral(transport)
    ? Combined.layer(transport.map((t) => oneTransport(t, maxFrameBytes)))
    : oneTransport(transport, maxFrameBytes)

/** How hard a SQLite commit is made durable (`normal`: survives a killed process; `full`: an fsync per commit). */
export type Durability = "normal" | "full"

/** The event log for `db`: SQLite on a file, or in memory for `:memory:`. */
export const eventLogLayer = (db: string, durability: Durability = "normal") =>
  db === ":memory:"
    ? MemoryEventLog.layer
    : SqliteEventLog.layer({ filename: db, synchronous: durability === "full" ? "FULL" : "NORMAL" })

/** The default artifacts directory of an event-log file: `arcp.db` → `arcp.artifacts` beside it. */
export const defaultArtifactsDir = (db: string): string => join(dirname(db), `${basename(db, extname(db))}.artifacts`)

/** The artifact store for `db`: files (records in `db`) or, for `:memory:`, memory. */
export const artifactStoreLayer = (
  db: string,
  artifactsDir?: string | undefined
): Layer.Layer<ArtifactStore, ArtifactStoreError> =>
  db === ":memory:"
    ? MemoryArtifactStore.layer
    : FileArtifactStore.layer({ directory: artifactsDir ?? defaultArtifactsDir(db), filename: db })

/**
 * The store of `options`: PostgreSQL when `store` is a PostgreSQL URL (its driver loaded only then),
 * otherwise SQLite on `db` (or memory for `:memory:`).
 */
export const storeLayer = (
  options: Pick<Options, "db" | "store" | "durability" | "artifactsDir">
): Layer.Layer<EventLog | ScheduleStore | ArtifactStore, EventLogError | ArtifactStoreError> =>
  options.store !== undefined && isPostgresUrl(options.store)
    ? Layer.unwrapEffect(
      Effect.map(
        Effect.tryPromise({
          try: () => import("../store/postgres/PostgresStore.js"),
          catch: (cause) =>
            new EventLogError({
              reason: "Open",
              message: "the PostgreSQL store needs the packages @effect/sql-pg and pg: install them beside arcp",
              cause
            })
        }),
        (PostgresStore): Layer.Layer<EventLog | ScheduleStore | ArtifactStore, EventLogError | ArtifactStoreError> =>
          PostgresStore.layer({
            url: options.store ?? "",
            artifactsDir: options.artifactsDir,
            durability: options.durability
          })
      )
    )
    // one after the other: both migrate the same SQLite file, and two writers at once would meet SQLITE_BUSY
    : artifactStoreLayer(options.db, options.artifactsDir).pipe(
      Layer.provideMerge(eventLogLayer(options.db, options.durability))
    )

/** The whole server as a Layer: it serves for as long as the layer lives, and shuts down gracefully when it closes. */
export const layer = (
  options: Options
): Layer.Layer<Runtime.Provided | Runtime.Serving | Acceptor, TransportError | EventLogError | ArtifactStoreError> =>
  Runtime.serve.pipe(
    Layer.provideMerge(Runtime.layer(options)),
    Layer.provide(Layer.mergeAll(
      authLayer(options.auth, options.audience ?? "arcp://runtime"),
      storeLayer(options),
      options.mcp !== undefined && options.mcp.length > 0
        ? McpTools.registry({ tools: options.tools, servers: options.mcp })
        : Tools.layer(options.tools),
      options.permissionPolicy === undefined
        ? Layer.empty
        : Layer.succeed(PermissionPolicy.PermissionPolicy, options.permissionPolicy)
    )),
    Layer.provideMerge(transportLayer(options)),
    // the tracer is set before anything runs, and flushes last (spans of the shutdown included)
    Layer.provide(Otlp.layer(options.otlp))
  )
