/**
 * Jobs an earlier runtime left unfinished (RFC §4.3, §10.2): at start, and
 * while running for instances whose lease lapsed (Takeover), each job whose
 * owner instance is gone is taken over — claimed in the store, so two takers
 * never both run it — and either started again from its last checkpoint, when
 * its tool can resume, or ended ABORTED (internal/Lost). A cancel recorded for
 * it that its owner never carried out (JobControl) is carried out here.
 * Jobs of a runtime that still runs are left alone.
 */
import { type Context, Effect, Either } from "effect"
import type { ArcpError } from "../../protocol/Errors.js"
import { CheckpointId } from "../../protocol/Ids.js"
import { decodeJson } from "../../protocol/Message.js"
import { type EventLog, type JobRecord, readAll, type StoredEvent } from "../../store/EventLog.js"
import type { Recorder } from "../events/Recorder.js"
import { terminalStates } from "../internal/Finish.js"
import { endLost } from "../internal/Lost.js"
import type { Restored, Tool, ToolContext, ToolRegistry } from "../Tools.js"
import type { RuntimeInstance } from "./Instance.js"
import { pendingCancel } from "./JobControl.js"

export interface RecoveryContext {
  readonly log: Context.Tag.Service<typeof EventLog>
  readonly recorder: Context.Tag.Service<typeof Recorder>
  readonly instance: Context.Tag.Service<typeof RuntimeInstance>
  readonly tools: Context.Tag.Service<typeof ToolRegistry>
  /** Runs the job of `record` again, under its id, with `handler` (Jobs wires it like an invoked job). */
  readonly restart: (
    record: JobRecord,
    tool: Tool,
    handler: (ctx: ToolContext) => Effect.Effect<unknown, ArcpError>,
    restored: Restored
  ) => Effect.Effect<void>
  /** Cancels live job `jobId` here (a cancel recorded for a job taken over). */
  readonly cancel: (jobId: string, reason: string | undefined, deadlineMs: number | undefined) => Effect.Effect<void>
}

/** The decoded type and payload of a logged envelope (undefined when it does not decode). */
const decoded = (row: StoredEvent) => {
  const message = decodeJson(row.json)
  return Either.isRight(message) ? { type: message.right.type, payload: message.right.payload } : undefined
}

/**
 * Where the job continues from: its last `job.checkpoint` in the log (what was durable, in order),
 * and the events logged after it. Only the rows of the job's own session count (a watcher's are copies).
 */
export const restoredFrom = (rows: ReadonlyArray<StoredEvent>, sessionId: string): Restored => {
  const own = rows.filter((r) => r.session_id === sessionId)
  let at = -1
  for (let i = own.length - 1; i >= 0; i--) {
    if (own[i]?.type === "job.checkpoint") {
      at = i
      break
    }
  }
  const checkpoint = at >= 0 ? own[at] : undefined
  const payload = checkpoint === undefined ? undefined : decoded(checkpoint)?.payload
  const id: unknown = typeof payload === "object" && payload !== null
    ? Reflect.get(payload, "checkpoint_id")
    : undefined
  const snapshot: unknown = typeof payload === "object" && payload !== null
    ? Reflect.get(payload, "snapshot")
    : undefined
  return {
    checkpointId: typeof id === "string" ? CheckpointId.make(id) : undefined,
    snapshot,
    since: own.slice(at + 1).flatMap((row) => {
      const event = decoded(row)
      return event === undefined ? [] : [event]
    })
  }
}

/** The handler that resumes the job of `record`, when its tool can resume and its arguments were kept. */
const resumerOf = (ctx: RecoveryContext, record: JobRecord) => {
  const tool = ctx.tools.get(record.tool)
  if (tool._tag === "None" || tool.value.resume === undefined || record.arguments === undefined) return undefined
  let args: unknown
  try {
    args = JSON.parse(record.arguments)
  } catch {
    return undefined
  }
  const handler = tool.value.resume(args)
  return Either.isRight(handler) ? { tool: tool.value, handler: handler.right } : undefined
}

/** Takes over one lost job: resumed from its checkpoint, or ended ABORTED. */
export const recover = Effect.fnUntraced(function*(ctx: RecoveryContext, record: JobRecord) {
  if (!(yield* ctx.instance.isGone(record.instance_id))) return "running elsewhere" as const
  if (!(yield* ctx.log.claimJob(record.job_id, record.instance_id, ctx.instance.id))) {
    return "taken by another runtime" as const
  }
  const rows = yield* readAll(ctx.log, { job_id: [record.job_id], direction: "out" })
  const resumer = resumerOf(ctx, record)
  // a job whose terminal is logged already ended (only its record lagged): endLost keeps that outcome
  if (resumer === undefined || rows.some((r) => terminalStates.has(r.type))) {
    yield* endLost(ctx.log, ctx.recorder, record)
    return "ended" as const
  }
  yield* ctx.restart(record, resumer.tool, resumer.handler, restoredFrom(rows, record.session_id))
  // cancelled before its owner went: it ends as a cancelled job does, not as a lost one
  const cancel = yield* pendingCancel(ctx.log, record)
  if (cancel._tag === "Some") yield* ctx.cancel(record.job_id, cancel.value.reason, cancel.value.deadline_ms)
  return "resumed" as const
})

/**
 * Runs as the runtime starts, before any session can ask for these jobs (all owners), and at each
 * takeover sweep (the `owners` found gone). A storage failure is logged, not fatal (false: the sweep
 * tries again); a repeat then ends the job it names (`endLost`).
 */
export const recoverAll = (
  ctx: RecoveryContext,
  owners?: ReadonlySet<string> | undefined
): Effect.Effect<boolean> =>
  Effect.gen(function*() {
    const unfinished = (yield* ctx.log.unfinishedJobs).filter((r) =>
      owners === undefined || (r.instance_id !== undefined && owners.has(r.instance_id))
    )
    const outcomes = yield* Effect.forEach(unfinished, (record) => recover(ctx, record))
    const resumed = outcomes.filter((o) => o === "resumed").length
    const ended = outcomes.filter((o) => o === "ended").length
    if (resumed + ended > 0) {
      yield* Effect.logWarning(
        `jobs left unfinished by a runtime that is gone: ${resumed} resumed from their checkpoints, ${ended} ended ABORTED`
      )
    }
    return true
  }).pipe(
    Effect.catchAll((e) =>
      Effect.as(Effect.logError("cannot recover the jobs a runtime that is gone left unfinished", e), false)
    )
  )
