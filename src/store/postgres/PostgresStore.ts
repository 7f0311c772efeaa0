/**
 * Everything a runtime stores, on one PostgreSQL database several runtimes can share: the event log,
 * the schedule store, artifact metadata (bytes in a directory, shared by the runtimes) and the event
 * bus on LISTEN/NOTIFY (provided as the `SharedEventBus`, which the runtime then uses). Migrated at
 * start (PgMigrations), under the migrator's lock.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { SqlClient } from "@effect/sql"
import { PgClient, PgMigrator } from "@effect/sql-pg"
import { Effect, Layer, Redacted, Schedule } from "effect"
import pg from "pg"
import { SharedEventBus } from "../../runtime/events/EventBus.js"
import { ArtifactStore, ArtifactStoreError } from "../ArtifactStore.js"
import { EventLog, EventLogError } from "../EventLog.js"
import * as FileArtifactStore from "../FileArtifactStore.js"
import type { ScheduleStore } from "../ScheduleStore.js"
import * as PgEventBus from "./PgEventBus.js"
import * as PgEventLog from "./PgEventLog.js"
import { migrations } from "./PgMigrations.js"
import * as PgScheduleStore from "./PgScheduleStore.js"
import { displayUrl } from "./Url.js"

export interface Options {
  /** `postgres://user:password@host:port/database` (also `postgresql://`). */
  readonly url: string
  /** Where artifact bytes go: for several runtimes, a directory they all reach (default `arcp.artifacts`). */
  readonly artifactsDir?: string | undefined
  /**
   * `normal` (default): a commit returns once the server has it (survives this runtime being killed, not a
   * crash of the database server: `synchronous_commit = off`); `full`: once it is on the server's disk.
   */
  readonly durability?: "normal" | "full" | undefined
  /** Most pooled connections of this runtime (default 10), besides the bus's listening one. */
  readonly maxConnections?: number | undefined
}

// BIGINT columns (positions, epoch-ms times, counts) read as numbers: they stay far below 2^53
const types = new pg.TypeOverrides()
types.setTypeParser(pg.types.builtins.INT8, Number)

/** Where artifact bytes go by default, relative to the working directory. */
export const DEFAULT_ARTIFACTS_DIR = "arcp.artifacts"

/**
 * The URL with the session setting of `durability`: `normal` is `synchronous_commit = off` (a commit
 * returns once the server has it, before its WAL is on disk), `full` the server's own setting.
 */
const withDurability = (url: string, durability: "normal" | "full"): string => {
  if (durability === "full" || !URL.canParse(url)) return url
  const u = new URL(url)
  const given = u.searchParams.get("options")
  u.searchParams.set("options", `${given === null ? "" : `${given} `}-c synchronous_commit=off`)
  return u.toString()
}

/** The client of `url` (pooled), migrated. */
export const clientLayer = (options: Options): Layer.Layer<SqlClient.SqlClient | PgClient.PgClient, EventLogError> =>
  // several runtimes starting together: the migrator's table lock orders them; creating its table may race once
  PgMigrator.layer({ loader: migrations }).pipe(
    Layer.retry(Schedule.recurs(2)),
    Layer.provide(NodeContext.layer),
    Layer.provideMerge(PgClient.layer({
      url: Redacted.make(withDurability(options.url, options.durability ?? "normal")),
      types,
      maxConnections: options.maxConnections ?? 10,
      applicationName: "arcp"
    })),
    Layer.mapError((cause) =>
      new EventLogError({
        reason: "Open",
        message: `cannot open the PostgreSQL store ${displayUrl(options.url)}: ${messageOf(cause)}`,
        cause
      })
    )
  )

const messageOf = (cause: unknown): string => {
  const inner = typeof cause === "object" && cause !== null && "cause" in cause ? cause.cause : undefined
  if (inner instanceof Error && inner.message !== "") return inner.message
  return cause instanceof Error ? cause.message : String(cause)
}

/** Artifact records in PostgreSQL, bytes under `directory`: a digest's bytes are renamed or unlinked under an advisory lock. */
const artifactLayer = (directory: string): Layer.Layer<ArtifactStore, ArtifactStoreError, SqlClient.SqlClient> =>
  Layer.scoped(
    ArtifactStore,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      return yield* FileArtifactStore.make({ directory }, {
        shared: true,
        exclusive: (sha256, effect) =>
          sql.withTransaction(
            Effect.zipRight(sql`SELECT pg_advisory_xact_lock(hashtext(${sha256}))`, effect)
          ).pipe(
            Effect.catchTag("SqlError", (cause) =>
              Effect.fail(new ArtifactStoreError({ reason: "Write", message: cause.message, cause })))
          )
      })
    })
  ).pipe(Layer.provide(NodeContext.layer))

/** The event log and the schedule store alone (no bus, no artifacts), as `SqliteEventLog.layer` gives them. */
export const logLayer = (options: Options): Layer.Layer<EventLog | ScheduleStore, EventLogError> =>
  Layer.merge(
    Layer.scoped(EventLog, PgEventLog.make()),
    PgScheduleStore.layer
  ).pipe(
    Layer.provide(clientLayer(options))
  )

/** The artifact store alone (records in `options.url`, bytes in `options.artifactsDir`). */
export const artifactStoreLayer = (options: Options): Layer.Layer<ArtifactStore, ArtifactStoreError> =>
  artifactLayer(options.artifactsDir ?? DEFAULT_ARTIFACTS_DIR).pipe(
    Layer.provide(clientLayer(options)),
    Layer.mapError((e) =>
      e._tag === "ArtifactStoreError" ? e : new ArtifactStoreError({ reason: "Open", message: e.message, cause: e })
    )
  )

/** The whole store on `options.url`. */
export const layer = (
  options: Options
): Layer.Layer<EventLog | ScheduleStore | ArtifactStore | SharedEventBus, EventLogError | ArtifactStoreError> => {
  // the positions this runtime's inbound envelopes took, from the log to the bus (see PgEventBus)
  const logAndBus = Layer.unwrapEffect(Effect.sync(() => {
    const localInbound = new Set<number>()
    const log = Layer.scoped(EventLog, PgEventLog.make((positions) => positions.forEach((p) => localInbound.add(p))))
    return Layer.scoped(SharedEventBus, PgEventBus.make({ url: options.url, localInbound })).pipe(
      Layer.provideMerge(log)
    )
  }))
  return Layer.mergeAll(
    logAndBus,
    PgScheduleStore.layer,
    artifactLayer(options.artifactsDir ?? DEFAULT_ARTIFACTS_DIR)
  ).pipe(Layer.provide(clientLayer(options)))
}
