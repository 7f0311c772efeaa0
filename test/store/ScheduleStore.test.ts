/** The ScheduleStore contract, run on every backend (memory; SQLite on a real file; PostgreSQL), and survival of a reopen. */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import { join } from "node:path"
import type { EventLogError } from "../../src/store/EventLog.js"
import * as MemoryEventLog from "../../src/store/MemoryEventLog.js"
import * as PostgresStore from "../../src/store/postgres/PostgresStore.js"
import { type ScheduleRecord, ScheduleStore } from "../../src/store/ScheduleStore.js"
import * as SqliteEventLog from "../../src/store/SqliteEventLog.js"
import { pgUnavailable, usePgCluster } from "../support/cluster/Postgres.js"
import { tempDir } from "../support/TempDir.js"

const schedule = (id: string, extra: Partial<ScheduleRecord> = {}): ScheduleRecord => ({
  schedule_id: id,
  principal: "alice",
  session_id: "sess_1",
  command_id: `msg_${id}`,
  job: JSON.stringify({ type: "tool.invoke", payload: { tool: "echo" } }),
  when: JSON.stringify({ after: 60 }),
  missed: "run_once",
  state: "active",
  next_fire_at: 1000,
  fire_count: 0,
  created_at: 1,
  updated_at: 1,
  ...extra
})

const freshDir = tempDir("arcp-schedules-")

const suite = (name: string, layer: () => Layer.Layer<ScheduleStore, EventLogError>) =>
  describe(name, () => {
    const withStore = <A, E>(body: Effect.Effect<A, E, ScheduleStore>) => Effect.provide(body, layer())

    it.scoped("R4.3-6 schedules round-trip, update in place, and keep absent fields absent", () =>
      withStore(Effect.gen(function*() {
        const store = yield* ScheduleStore
        const first = schedule("sch_a", { trace_id: "trace_1" })
        yield* store.save(first)
        assert.deepStrictEqual(yield* store.get("sch_a"), Option.some(first))
        const fired = schedule("sch_a", { fire_count: 1, last_job_id: "job_1", next_fire_at: 2000, updated_at: 2 })
        yield* store.save(fired)
        assert.deepStrictEqual(yield* store.get("sch_a"), Option.some(fired))
        const { next_fire_at: _, ...done } = schedule("sch_a", { state: "done", fire_count: 1 })
        yield* store.save(done)
        assert.deepStrictEqual(yield* store.get("sch_a"), Option.some(done))
        assert.deepStrictEqual(yield* store.get("sch_missing"), Option.none())
      })))

    it.scoped("R4.3-6 active schedules come soonest first; per principal; done and cancelled ones drop out", () =>
      withStore(Effect.gen(function*() {
        const store = yield* ScheduleStore
        yield* store.save(schedule("sch_3", { next_fire_at: 3000 }))
        yield* store.save(schedule("sch_1", { next_fire_at: 1000 }))
        yield* store.save(schedule("sch_2", { next_fire_at: 2000, principal: "bob" }))
        yield* store.save(schedule("sch_0", { next_fire_at: 500, state: "cancelled" }))
        yield* store.save(schedule("sch_9", { state: "done", next_fire_at: undefined }))
        assert.deepStrictEqual((yield* store.active).map((s) => s.schedule_id), ["sch_1", "sch_2", "sch_3"])
        assert.deepStrictEqual((yield* store.listActive("alice")).map((s) => s.schedule_id), ["sch_1", "sch_3"])
        assert.strictEqual(yield* store.countActive("alice"), 2)
        assert.strictEqual(yield* store.countActive("carol"), 0)
        assert.deepStrictEqual(Option.map(yield* store.earliest, (s) => s.schedule_id), Option.some("sch_1"))
        yield* store.save(schedule("sch_1", { state: "cancelled", next_fire_at: undefined }))
        assert.deepStrictEqual(Option.map(yield* store.earliest, (s) => s.schedule_id), Option.some("sch_2"))
      })))
  })

suite("MemoryScheduleStore", () => MemoryEventLog.layer)
describe.skipIf(pgUnavailable !== undefined)("on PostgreSQL", () => {
  const { database } = usePgCluster()
  suite("PgScheduleStore", () => Layer.unwrapEffect(Effect.map(database, (url) => PostgresStore.logLayer({ url }))))
})
suite(
  "SqliteScheduleStore",
  () => Layer.unwrapScoped(Effect.map(freshDir, (dir) => SqliteEventLog.layer({ filename: join(dir, "events.db") })))
)

describe("SqliteScheduleStore on a file", () => {
  it.scoped("R4.3-6 schedules and their next firing survive closing and reopening the file", () =>
    Effect.gen(function*() {
      const dir = yield* freshDir
      const layer = () => SqliteEventLog.layer({ filename: join(dir, "events.db") })
      yield* Effect.provide(
        Effect.flatMap(ScheduleStore, (s) => s.save(schedule("sch_kept", { next_fire_at: 42 }))),
        layer()
      )
      const again = yield* Effect.provide(Effect.flatMap(ScheduleStore, (s) => s.active), layer())
      assert.deepStrictEqual(again.map((s) => [s.schedule_id, s.next_fire_at]), [["sch_kept", 42]])
    }))
})
