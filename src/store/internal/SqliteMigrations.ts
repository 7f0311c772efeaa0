/**
 * Migrations for a SQLite file that several processes may open at once (two `arcp serve` on one
 * fresh file, or a CLI command beside a server). @effect/sql's migrator answers "another process
 * is migrating" by returning as if done, so the loser would go on to use tables not yet committed.
 * Here a run counts only once the file records the last migration; until then it is run again.
 */
import { SqlClient } from "@effect/sql"
import * as Migrator from "@effect/sql/Migrator"
import { Data, Duration, Effect, Layer, Schedule } from "effect"

class StillMigrating extends Data.TaggedError("StillMigrating")<{ readonly latest: number }> {}

/** How long a process waits for another one's migrations before it gives up. */
const WAIT = Duration.seconds(30)

const runMigrations = Migrator.make({})

export const run = Effect.fnUntraced(function*(options: { readonly loader: Migrator.Loader; readonly table: string }) {
  const sql = yield* SqlClient.SqlClient
  const wanted = Math.max(0, ...(yield* options.loader).map(([id]) => id))
  const recorded = sql<{ readonly id: number | null }>`SELECT MAX(migration_id) AS id FROM ${sql(options.table)}`
  yield* runMigrations(options).pipe(
    Effect.zipRight(recorded),
    Effect.flatMap(([row]) => {
      const latest = row?.id ?? 0
      return latest >= wanted ? Effect.void : Effect.fail(new StillMigrating({ latest }))
    }),
    Effect.retry({
      while: (error) => error._tag === "StillMigrating" || error._tag === "SqlError",
      schedule: Schedule.spaced(Duration.millis(25)).pipe(Schedule.upTo(WAIT))
    }),
    Effect.catchTag("StillMigrating", ({ latest }) =>
      Effect.fail(
        new Migrator.MigrationError({
          reason: "failed",
          message: `another process has held the migrations at ${latest} of ${wanted} for ${Duration.format(WAIT)}`
        })
      ))
  )
})

/** Runs `run` while the layer is built. */
export const layer = (options: { readonly loader: Migrator.Loader; readonly table: string }) =>
  Layer.effectDiscard(run(options))
