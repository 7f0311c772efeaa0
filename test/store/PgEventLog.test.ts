/** The EventLog contract on PostgreSQL (a throwaway cluster), and positions in commit order with concurrent writers. */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { EventLog, type EventLogError } from "../../src/store/EventLog.js"
import * as PostgresStore from "../../src/store/postgres/PostgresStore.js"
import type { ScheduleStore } from "../../src/store/ScheduleStore.js"
import { pgUnavailable, usePgCluster } from "../support/cluster/Postgres.js"
import { envelope, eventLogSuite } from "./EventLogSuite.js"

describe.skipIf(pgUnavailable !== undefined)("PgEventLog", () => {
  const { database } = usePgCluster()
  const freshLog = (): Layer.Layer<EventLog | ScheduleStore, EventLogError> =>
    Layer.unwrapEffect(Effect.map(database, (url) => PostgresStore.logLayer({ url })))

  eventLogSuite(freshLog)

  it.live(
    "R4.3-1 with four runtimes writing at once, a reader following positions sees every one, in order, none late",
    () =>
      Effect.gen(function*() {
        const url = yield* database
        // four pools, four group-commit writers: their transactions interleave on the server
        const logs = yield* Effect.forEach([1, 2, 3, 4], () =>
          Layer.build(PostgresStore.logLayer({ url, maxConnections: 2 })).pipe(
            Effect.map((context) =>
              Context.get(context, EventLog)
            )
          ))
        const reader = logs[0]
        if (reader === undefined) {
          return
        }
        const total = 4 * 60 * 3
        const seen: Array<number> = []
        let writing = true
        const follow = Effect.gen(function*() {
          while (writing || seen.length < total) {
            const page = yield* reader.read({ after: seen[seen.length - 1] ?? 0 })
            for (const row of page) seen.push(row.position)
          }
        })
        const write = Effect.forEach(logs, (log, n) =>
          Effect.forEach(
            Array.from({ length: 60 }, (_, i) => i),
            (i) => log.recordOutbound([0, 1, 2].map((k) => envelope(`w${n}_${i}_${k}`))),
            {
              concurrency: 8,
              discard: true
            }
          ), { concurrency: "unbounded", discard: true }).pipe(Effect.ensuring(Effect.sync(() => {
            writing = false
          })))
        yield* Effect.all([follow, write], { concurrency: "unbounded" })
        // positions are gapless and commit-ordered: a reader that skipped one would never see it
        assert.deepStrictEqual(
          seen,
          Array.from({ length: total }, (_, i) => i + 1)
        )
      }).pipe(Effect.scoped),
    60_000
  )
})
