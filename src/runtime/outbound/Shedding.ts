/**
 * What may be shed under backpressure (RFC §6.5, §11.2): lower-priority
 * traffic first. Events are durable — committed before anything is written —
 * so shedding drops an event from the live delivery to a reader whose buffer
 * is full, never from the log: a resume (§19) or a subscription's backfill
 * (§13.3) still reads it. Only `low`-priority telemetry is shed: job.progress
 * (a later one supersedes it), log and metric. Stream chunks never are (a
 * stream's sequence must arrive whole, §11.1), nor terminals, answers, human
 * or permission requests (docs/decisions.md "Shedding").
 */
import { type Priority, priorityOf } from "../../protocol/Envelope.js"

/** The event types a full buffer may shed, when their priority is `low`. */
export const SHEDDABLE_TYPES: ReadonlySet<string> = new Set(["job.progress", "log", "metric"])

/** Whether an event of `type` at `priority` may be shed. */
export const isSheddable = (type: string, priority: Priority | undefined): boolean =>
  priority === "low" && SHEDDABLE_TYPES.has(type)

/** Whether this envelope may be shed. */
export const sheddable = (envelope: { readonly type: string; readonly priority?: Priority | undefined }): boolean =>
  isSheddable(envelope.type, priorityOf(envelope))
