/** The schedule store in memory: the test double of the `ScheduleStore` contract (nothing survives the process). */
import { Effect, Layer, Option } from "effect"
import { bySoonest, type ScheduleRecord, ScheduleStore } from "./ScheduleStore.js"

/** The store over `records` (shared with the memory event log, which keeps the owners of scheduled sessions). */
export const over = (records: Map<string, ScheduleRecord>) => {
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
}

export const make = Effect.sync(() => over(new Map()))

/** Whether an active schedule of `records` fires into session `sessionId`. */
export const schedulesInto = (records: ReadonlyMap<string, ScheduleRecord>, sessionId: string): boolean => {
  for (const r of records.values()) if (r.state === "active" && r.session_id === sessionId) return true
  return false
}

/** A fresh, empty in-memory schedule store. */
export const layer: Layer.Layer<ScheduleStore> = Layer.effect(ScheduleStore, make)
