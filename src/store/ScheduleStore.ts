/**
 * The durable record of schedules (RFC §10.6, R4.3-6): what each schedule runs,
 * when, its next firing and how it ends. One contract, two backends (SQLite in
 * the event log's file, memory), both provided by the event-log layers.
 */
import { Context, type Effect, type Option, Schema } from "effect"
import type { TrustLevel } from "../protocol/messages/Common.js"

/** A storage failure of the schedule store; callers answer UNAVAILABLE. */
export class ScheduleStoreError extends Schema.TaggedError<ScheduleStoreError>()("ScheduleStoreError", {
  reason: Schema.Literal("Write", "Read"),
  message: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {}

/** What happens to firings missed while the runtime was down: one runs at start, or they are skipped. */
export type MissedPolicy = "run_once" | "skip"

/** `active` until its last firing (`done`) or a cancel (`cancelled`). */
export type ScheduleState = "active" | "done" | "cancelled"

export interface ScheduleRecord {
  readonly schedule_id: string
  readonly principal: string
  /** The scheduling session: its firings are addressed to it (delivered while it lives, logged always). */
  readonly session_id: string
  /** The id of the `job.schedule` message: each firing's events name it as their causation. */
  readonly command_id: string
  /** The JSON of the `job` to run: `{type: "tool.invoke", payload}`. */
  readonly job: string
  /** The JSON of the `when` it was scheduled with. */
  readonly when: string
  readonly missed: MissedPolicy
  readonly state: ScheduleState
  /** When it fires next (epoch ms); absent once it is no longer active. */
  readonly next_fire_at?: number | undefined
  readonly fire_count: number
  /** The job of its latest firing. */
  readonly last_job_id?: string | undefined
  readonly trace_id?: string | undefined
  /** The scheduling session's trust level (§15.3): a firing with no live session runs at it. */
  readonly trust_level?: TrustLevel | undefined
  readonly created_at: number
  readonly updated_at: number
}

export class ScheduleStore extends Context.Tag("arcp/ScheduleStore")<ScheduleStore, {
  /** Inserts or replaces a schedule; completes once it is committed. */
  readonly save: (record: ScheduleRecord) => Effect.Effect<void, ScheduleStoreError>
  readonly get: (scheduleId: string) => Effect.Effect<Option.Option<ScheduleRecord>, ScheduleStoreError>
  /** The active schedules of `principal`, soonest first. */
  readonly listActive: (principal: string) => Effect.Effect<ReadonlyArray<ScheduleRecord>, ScheduleStoreError>
  /** How many schedules `principal` has active (for the per-principal limit). */
  readonly countActive: (principal: string) => Effect.Effect<number, ScheduleStoreError>
  /** Every active schedule, soonest first: what a starting runtime arms. */
  readonly active: Effect.Effect<ReadonlyArray<ScheduleRecord>, ScheduleStoreError>
  /** The active schedule that fires first, if any (indexed: the next-firing lookup). */
  readonly earliest: Effect.Effect<Option.Option<ScheduleRecord>, ScheduleStoreError>
}>() {}

/** Orders records soonest first, by id among equals (the order both backends return). */
export const bySoonest = (a: ScheduleRecord, b: ScheduleRecord): number =>
  (a.next_fire_at ?? Infinity) - (b.next_fire_at ?? Infinity) ||
  (a.schedule_id < b.schedule_id ? -1 : a.schedule_id > b.schedule_id ? 1 : 0)
