/**
 * A stored schedule read back: its job and `when` decoded with the schemas they were accepted by, and its wire
 * view in a listing (`arcpx.arcp.schedules.v1.listed`).
 */
import { Schema } from "effect"
import { ScheduleWhen, ToolInvoke } from "../../protocol/messages/Execution.js"
import { fromMillis } from "../../protocol/Timestamp.js"
import type { ScheduleRecord } from "../../store/ScheduleStore.js"

/** The stored JSON of a schedule's job and `when`, read back with the schemas they were accepted by. */
export const decodeStoredJob = Schema.decodeEither(Schema.parseJson(Schema.Struct({ payload: ToolInvoke })))
export const decodeStoredWhen = Schema.decodeEither(Schema.parseJson(ScheduleWhen))
const parsed = (json: string): unknown => JSON.parse(json)

/** The wire view of a schedule in a listing. */
export const describe = (r: ScheduleRecord) => ({
  schedule_id: r.schedule_id,
  command_id: r.command_id,
  session_id: r.session_id,
  job: parsed(r.job),
  when: parsed(r.when),
  missed: r.missed,
  state: r.state,
  ...(r.next_fire_at !== undefined ? { next_fire_at: fromMillis(r.next_fire_at) } : {}),
  fire_count: r.fire_count,
  ...(r.last_job_id !== undefined ? { last_job_id: r.last_job_id } : {}),
  created_at: fromMillis(r.created_at)
})
