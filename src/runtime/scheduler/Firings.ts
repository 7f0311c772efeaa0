/**
 * One firing per due time across runtimes sharing a store (issue 17): every
 * runtime arms the active schedules it knows, so several may find the same
 * firing due. Before firing, a runtime reads the schedule again (cancelled or
 * done elsewhere: not fired) and claims the firing as an idempotency key of the
 * schedule's principal, `<schedule_id>@<due>` in the scheduler's own namespace:
 * the store's claim lets exactly one runtime win it.
 */
import { type Context, Effect, Option } from "effect"
import type { EventLog } from "../../store/EventLog.js"
import type { ScheduleRecord, ScheduleStore } from "../../store/ScheduleStore.js"

/** The idempotency key of one firing. */
export const firingKey = (scheduleId: string, due: number): string => `arcpx.arcp.schedule.v1/${scheduleId}@${due}`

/**
 * The schedule as stored now, when this runtime may fire it at `due` (None: it is no longer active,
 * or another runtime claimed this firing). A store failure lets it fire (one runtime alone is the common case).
 */
export const claimFiring = (
  log: Context.Tag.Service<typeof EventLog>,
  store: Context.Tag.Service<typeof ScheduleStore>,
  record: ScheduleRecord,
  due: number,
  now: number
): Effect.Effect<Option.Option<ScheduleRecord>> =>
  Effect.gen(function*() {
    const current = yield* store.get(record.schedule_id)
    if (Option.isNone(current) || current.value.state !== "active") return Option.none()
    const claim = yield* log.claimIdempotencyKey({
      principal: record.principal,
      key: firingKey(record.schedule_id, due),
      job_id: record.schedule_id,
      digest: "firing",
      now,
      // kept past the due time long enough for every runtime to have looked at it
      expiresAt: Math.max(due, now) + 24 * 3_600_000
    })
    return claim._tag === "Claimed" ? current : Option.none()
  }).pipe(
    Effect.catchAll((e) =>
      Effect.as(
        Effect.logWarning(`schedule ${record.schedule_id}: cannot claim its firing; firing it`, e),
        Option.some(record)
      )
    )
  )
