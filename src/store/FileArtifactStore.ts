/**
 * Artifacts on disk (the default): bytes content-addressed under a directory
 * (`<dir>/<sha256[0..2]>/<sha256>`), records in the SQLite database of the
 * event log (its own migration table). A put streams into a temporary file
 * while hashing it, then renames it into place: a crash or a failed check
 * leaves no partial artifact, and temporary files are cleared at start.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as FileSystem from "@effect/platform/FileSystem"
import { SqlClient } from "@effect/sql"
import { SqliteClient } from "@effect/sql-sqlite-node"
import * as Migrator from "@effect/sql/Migrator"
import { Clock, Effect, Layer, Option, Schema, Stream } from "effect"
import { randomBytes } from "node:crypto"
import { join } from "node:path"
import { type ArtifactRecord, ArtifactStore, ArtifactStoreError, check, measure } from "./ArtifactStore.js"
import * as SqliteMigrations from "./internal/SqliteMigrations.js"

export interface Options {
  /** Where the bytes go (created if missing). */
  readonly directory: string
  /** The SQLite file holding the records (the event log's, by default in `arcp serve`). */
  readonly filename: string
}

export const migrations = Migrator.fromRecord({
  "0001_artifacts": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`CREATE TABLE artifacts (artifact_id TEXT PRIMARY KEY, principal TEXT NOT NULL, session_id TEXT NOT NULL,
      media_type TEXT NOT NULL, size INTEGER NOT NULL, sha256 TEXT NOT NULL, created_at INTEGER NOT NULL,
      expires_at INTEGER NOT NULL)`
    yield* sql`CREATE INDEX artifacts_expiry ON artifacts (expires_at)`
    yield* sql`CREATE INDEX artifacts_principal ON artifacts (principal)`
    yield* sql`CREATE INDEX artifacts_sha256 ON artifacts (sha256)`
  })
})

const Row = Schema.Struct({
  artifact_id: Schema.String,
  principal: Schema.String,
  session_id: Schema.String,
  media_type: Schema.String,
  size: Schema.Number,
  sha256: Schema.String,
  created_at: Schema.Number,
  expires_at: Schema.Number
})
const decodeRows = Schema.decodeUnknown(Schema.Array(Row))

const failure = (reason: "Open" | "Read" | "Write") => (cause: unknown) =>
  new ArtifactStoreError({
    reason,
    message: typeof cause === "object" && cause !== null && "message" in cause ? String(cause.message) : String(cause),
    cause
  })

/** How much of a file one read chunk holds. */
const READ_CHUNK = 256 * 1024

/**
 * How the records are kept beside the bytes: the default is this process alone on the directory. A
 * store shared by several runtimes (PostgreSQL's) gives `exclusive` its own cross-process lock, and
 * `shared` so that each process puts into a temporary folder of its own.
 */
export interface Sharing {
  /** Runs `effect` with no other process renaming or unlinking the bytes of `sha256` meanwhile. */
  readonly exclusive: <A>(
    sha256: string,
    effect: Effect.Effect<A, ArtifactStoreError>
  ) => Effect.Effect<A, ArtifactStoreError>
  readonly shared: boolean
}

/** Temporary files older than this, in a shared directory, are puts a crashed runtime never finished. */
const STALE_TEMP_MS = 24 * 60 * 60 * 1000

export const make = Effect.fnUntraced(function*(options: Pick<Options, "directory">, sharing?: Sharing) {
  const fs = yield* FileSystem.FileSystem
  const sql = yield* SqlClient.SqlClient
  const tmpRoot = join(options.directory, ".tmp")
  const tmp = sharing?.shared === true ? join(tmpRoot, randomBytes(8).toString("hex")) : tmpRoot
  // temporary files are puts that never finished (a crash): nothing refers to them (in a shared
  // directory, other runtimes' puts are under way: only old leftovers go)
  if (sharing?.shared === true) yield* removeStaleTemps(fs, tmpRoot)
  else yield* fs.remove(tmp, { recursive: true }).pipe(Effect.ignore)
  yield* fs.makeDirectory(tmp, { recursive: true }).pipe(Effect.mapError(failure("Open")))
  if (sharing?.shared === true) {
    yield* Effect.addFinalizer(() => fs.remove(tmp, { recursive: true }).pipe(Effect.ignore))
  }
  // renaming into place + recording, and unrecording + unlinking, must not interleave for one digest
  const semaphore = yield* Effect.makeSemaphore(1)
  const exclusive = <A>(sha256: string, effect: Effect.Effect<A, ArtifactStoreError>) =>
    semaphore.withPermits(1)(sharing === undefined ? effect : sharing.exclusive(sha256, effect))
  const pathOf = (sha256: string) => join(options.directory, sha256.slice(0, 2), sha256)

  const rows = (query: Effect.Effect<ReadonlyArray<unknown>, unknown>) =>
    query.pipe(Effect.flatMap(decodeRows), Effect.mapError(failure("Read")))

  const get = (id: string) =>
    Effect.map(
      rows(sql`SELECT * FROM artifacts WHERE artifact_id = ${id}`),
      (found): Option.Option<ArtifactRecord> => Option.fromNullable(found[0])
    )

  const put = <E>(request: Parameters<ArtifactStore["Type"]["put"]>[0], bytes: Stream.Stream<Uint8Array, E>) =>
    Effect.gen(function*() {
      const temp = join(tmp, `${request.artifact_id}.${randomBytes(6).toString("hex")}`)
      const measured = yield* measure(bytes, request.maxBytes)
      const written = yield* Effect.scoped(
        Effect.gen(function*() {
          const file = yield* fs.open(temp, { flag: "wx" }).pipe(Effect.mapError(failure("Write")))
          yield* Stream.runForEach(
            measured.stream,
            (chunk) => file.writeAll(chunk).pipe(Effect.mapError(failure("Write")))
          )
          yield* file.sync.pipe(Effect.mapError(failure("Write")))
          return yield* measured.result
        })
      )
      yield* check(request, written)
      const { expectedSha256: _sha, expectedSize: _size, maxBytes: _max, ...fields } = request
      const record: ArtifactRecord = { ...fields, ...written }
      const target = pathOf(written.sha256)
      yield* exclusive(
        written.sha256,
        Effect.gen(function*() {
          yield* fs.makeDirectory(join(options.directory, written.sha256.slice(0, 2)), { recursive: true })
          // same bytes already stored: the existing file serves both records
          if (yield* fs.exists(target)) yield* fs.remove(temp)
          else yield* fs.rename(temp, target)
          yield* sql`INSERT INTO artifacts ${sql.insert({ ...record })}`
        }).pipe(Effect.mapError(failure("Write")))
      )
      return record
    })

  /** Whatever happened, the put's temporary file goes (after a rename it is gone already). */
  const cleanupTemp = <A, E>(request: { readonly artifact_id: string }, effect: Effect.Effect<A, E>) =>
    effect.pipe(Effect.onExit(() => removeStale(request.artifact_id)))

  /** Removes the temporary files of one put (there is at most one unless ids repeat). */
  const removeStale = (artifactId: string) =>
    fs.readDirectory(tmp).pipe(
      Effect.flatMap((names) =>
        Effect.forEach(
          names.filter((n) => n.startsWith(`${artifactId}.`)),
          (n) => fs.remove(join(tmp, n)),
          { discard: true }
        )
      ),
      Effect.ignore
    )

  return ArtifactStore.of({
    put: (request, bytes) => cleanupTemp(request, put(request, bytes)),
    get,
    read: (record) =>
      fs.stream(pathOf(record.sha256), { chunkSize: READ_CHUNK }).pipe(Stream.mapError(failure("Read"))),
    delete: (id) =>
      Effect.flatMap(get(id), (found) =>
        Option.isNone(found) ? Effect.succeed(false) : exclusive(
          found.value.sha256,
          Effect.gen(function*() {
            const gone = yield* sql`DELETE FROM artifacts WHERE artifact_id = ${id} RETURNING artifact_id`.pipe(
              Effect.mapError(failure("Write"))
            )
            // a delete racing this one got there first
            if (gone.length === 0) return false
            const others = yield* rows(sql`SELECT * FROM artifacts WHERE sha256 = ${found.value.sha256} LIMIT 1`)
            if (others.length === 0) {
              yield* fs.remove(pathOf(found.value.sha256)).pipe(
                Effect.catchAll((e) => Effect.logWarning(`cannot remove artifact bytes ${found.value.sha256}`, e))
              )
            }
            return true
          })
        )),
    expired: (now) => rows(sql`SELECT * FROM artifacts WHERE expires_at <= ${now} ORDER BY expires_at`),
    usage: (principal) =>
      // CAST: PostgreSQL sums BIGINTs as NUMERIC
      sql`SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) AS total FROM artifacts WHERE principal = ${principal}`.pipe(
        Effect.flatMap(Schema.decodeUnknown(Schema.Tuple(Schema.Struct({ total: Schema.Number })))),
        Effect.map(([row]) => row.total),
        Effect.mapError(failure("Read"))
      )
  })
})

/** Removes what a crashed runtime left in a shared temporary folder, once it is old enough to be no put under way. */
const removeStaleTemps = (fs: FileSystem.FileSystem, root: string) =>
  Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const names = yield* fs.readDirectory(root, { recursive: true })
    for (const name of names) {
      const path = join(root, name)
      const info = yield* fs.stat(path)
      const modified = Option.getOrElse(info.mtime, () => new Date(now)).getTime()
      if (info.type === "File" && now - modified > STALE_TEMP_MS) yield* fs.remove(path)
    }
  }).pipe(Effect.ignore)

/** The file store on `directory`, its records in the SQLite file `filename` (created and migrated as needed). */
export const layer = (options: Options): Layer.Layer<ArtifactStore, ArtifactStoreError> =>
  Layer.scoped(ArtifactStore, make(options)).pipe(
    Layer.provide(SqliteMigrations.layer({ loader: migrations, table: "arcp_artifact_migrations" })),
    Layer.provide(SqliteClient.layer({ filename: options.filename })),
    Layer.provide(NodeContext.layer),
    Layer.mapError((cause) =>
      cause._tag === "ArtifactStoreError" ? cause : new ArtifactStoreError({
        reason: "Open",
        message: `cannot open the artifact store ${options.directory} (${options.filename}): ${cause.message}`,
        cause
      })
    )
  )
