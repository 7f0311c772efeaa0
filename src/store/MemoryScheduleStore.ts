/** The schedule store in memory: the test double of the `ScheduleStore` contract (nothing survives the process). */
import { Effect, Layer, Option } from "effect"
import { bySoonest, type ScheduleRecord, ScheduleStore } from "./ScheduleStore.js"

export const make = Effect.sync(() => {
  const records = new Map<string, ScheduleRecord>()
  const activeOf = (principal?: string) =>
    [...records.values()].filter((r) => r.state === "active" && (principal === undefined || r.principal === principal))
      .sort(bySoonest)
  return ScheduleStore.of({
    save: (record) =>
      Effect.sync(() => {
        records.set(record.schedule_id, record)
      }),
    get: (id) => Effect.sync(() => Option.fromNullable(records.get(id))),
    listActive: (principal) => Effect.sync(() => activeOf(principal)),
    countActive: (principal) =>
      Effect.sync(() => {
        let n = 0
        for (const r of records.values()) if (r.state === "active" && r.principal === principal) n++
        return n
      }),
    active: Effect.sync(() => activeOf()),
    earliest: Effect.sync(() => {
      let soonest: ScheduleRecord | undefined
      for (const r of records.values()) {
        if (r.state === "active" && (soonest === undefined || bySoonest(r, soonest) < 0)) soonest = r
      }
      return Option.fromNullable(soonest)
    })
  })
})

/** A fresh, empty in-memory schedule store. */
export const layer: Layer.Layer<ScheduleStore> = Layer.effect(ScheduleStore, make)
