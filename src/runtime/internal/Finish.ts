/**
 * How a job ends (RFC §6.3, §10.2, §17.3.1): whichever way it ends — the
 * handler returns or fails, it is cancelled, or the runtime gives up on it —
 * it gets the runtime metrics, its streams are ended, its record is saved and
 * exactly one terminal event goes out.
 */
import { type Context, Effect, Either, Fiber } from "effect"
import { currentTimeMillis } from "../../internal/Now.js"
import type { ErrorPayload } from "../../protocol/Errors.js"
import { exceedsDepth } from "../../protocol/JsonDepth.js"
import { type Decoded, encodeUnchecked, type PayloadOf, tryEncode } from "../../protocol/Message.js"
import { fromMillis } from "../../protocol/Timestamp.js"
import type { EventLog } from "../../store/EventLog.js"
import { deliver, emit, envelope, hasEnded, type Job, toRecord } from "../jobs/Job.js"
import type { Streams } from "../Streams.js"
import * as RuntimeMetrics from "./RuntimeMetrics.js"

/** The terminal event of a job and the state it leaves the job in. */
export type Terminal =
  | { readonly type: "tool.result"; readonly payload: PayloadOf<"tool.result">; readonly state: "completed" }
  | { readonly type: "job.completed"; readonly payload: PayloadOf<"job.completed">; readonly state: "completed" }
  | { readonly type: "tool.error" | "job.failed"; readonly payload: ErrorPayload; readonly state: "failed" }
  | { readonly type: "job.cancelled"; readonly payload: PayloadOf<"job.cancelled">; readonly state: "cancelled" }

/** The state each terminal event type leaves a job in. */
export const terminalStates: ReadonlyMap<string, Terminal["state"]> = new Map<Terminal["type"], Terminal["state"]>([
  ["tool.result", "completed"],
  ["job.completed", "completed"],
  ["tool.error", "failed"],
  ["job.failed", "failed"],
  ["job.cancelled", "cancelled"]
])

/** Whether an envelope is a job's terminal event. */
export const isTerminal = (envelope: { readonly type: string }): boolean => terminalStates.has(envelope.type)

/** What ending a job touches. */
export interface Ending {
  readonly log: Context.Tag.Service<typeof EventLog>
  readonly streams: Context.Tag.Service<typeof Streams>
  /** The runtime's JSON nesting limit: a terminal deeper than it is not sent (a peer with the same limit would refuse it). */
  readonly maxJsonDepth: number
}

/** `job.accepted`, answering the invoke; once. */
export const announce = (job: Job): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (!job.announce()) return Effect.void
    return emit(job, "job.accepted", { job_id: job.id, accepted_at: fromMillis(job.acceptedAt) }, {
      correlation_id: job.commandId
    })
  })

/**
 * §17.3.1: one `tool.invocations` per accepted invoke, after job.started (or before the terminal of a job that
 * never started): aggregated always, an event only for a session that negotiated `arcpx.arcp.metrics.v1`.
 */
export const count = (job: Job): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (!job.count()) return Effect.void
    const aggregated = RuntimeMetrics.invoked(job.tool.name)
    if (!job.metrics) return aggregated
    return Effect.zipRight(
      aggregated,
      emit(job, "metric", {
        name: "tool.invocations",
        value: 1,
        unit: "count",
        dims: { tool: job.tool.name }
      })
    )
  })

/** The error a job's open streams end with (§11): none on success. */
const streamError = (terminal: Terminal): ErrorPayload | undefined =>
  terminal.state === "completed"
    ? undefined
    : terminal.state === "cancelled"
    ? { code: "CANCELLED", message: "the job was cancelled" }
    : { code: terminal.payload.code, message: `the job failed: ${terminal.payload.message}` }

/**
 * Ends the job with `terminal` unless it has ended already (a late handler, an
 * abandoned fiber): withdraws a pending interrupt prompt, ends its streams,
 * reports latency.ms (and errors.total on failure; as events only to a session that asked for the
 * runtime's metrics, aggregated always), saves the record with the
 * terminal, then delivers it.
 */
export const finish = Effect.fnUntraced(function*(ending: Ending, job: Job, terminal: Terminal) {
  const { log } = ending
  if (hasEnded(job)) return
  // a pending interrupt prompt is withdrawn (human.input.cancelled) before the terminal event
  const pending = job.takeInterruptAnswer()
  if (pending !== undefined) yield* Fiber.interrupt(pending)
  if (hasEnded(job)) return
  job.endAs(terminal.state)
  yield* announce(job)
  yield* ending.streams.endJob(job, streamError(terminal))
  yield* count(job)
  const end = yield* currentTimeMillis
  const started = job.startedAt ?? end
  const metric = (name: string, value: number, unit: string, dims: Record<string, string>) =>
    job.metrics ? emit(job, "metric", { name, value, unit, dims }) : Effect.void
  const phases = { queue: started - job.acceptedAt, exec: end - started, total: end - job.acceptedAt }
  yield* RuntimeMetrics.ended(job.tool.name, phases)
  if (terminal.state === "failed") yield* RuntimeMetrics.failed(job.tool.name, terminal.payload.code)
  // as events only to a session that asked for them (no fiber steps for the others: issue 12)
  if (job.metrics) {
    yield* metric("latency.ms", phases.queue, "ms", { phase: "queue", tool: job.tool.name })
    yield* metric("latency.ms", phases.exec, "ms", { phase: "exec", tool: job.tool.name })
    yield* metric("latency.ms", phases.total, "ms", { phase: "total", tool: job.tool.name })
    if (terminal.state === "failed") {
      yield* metric("errors.total", 1, "count", { code: terminal.payload.code, tool: job.tool.name })
    }
  }
  const correlated = terminal.type === "tool.result" || terminal.type === "tool.error"
  const header = { priority: "critical", ...(correlated ? { correlation_id: job.commandId } : {}) } as const
  let env: Decoded = yield* envelope(job, terminal.type, terminal.payload, header)
  const checked = encodable(env, ending.maxJsonDepth)
  let json: string
  if (Either.isRight(checked)) json = checked.right
  else {
    // the outcome a tool produced cannot travel: the job still ends, once, with the reason
    yield* Effect.logError(`job ${job.id}: its terminal ${terminal.type} cannot be sent: ${checked.left}`)
    if (terminal.state !== "failed") {
      yield* RuntimeMetrics.failed(job.tool.name, "INTERNAL")
      yield* metric("errors.total", 1, "count", { code: "INTERNAL", tool: job.tool.name })
    }
    job.endAs("failed")
    env = yield* envelope(job, "tool.error", {
      code: "INTERNAL",
      message: `the job's ${terminal.type === "tool.result" ? "result" : "outcome"} cannot be sent: ${checked.left}`,
      retryable: false
    }, { priority: "critical", correlation_id: job.commandId })
    json = encodeUnchecked(env)
  }
  // staged: the record commits no later than the terminal event delivered next (the same writer takes
  // both, the record first), so whoever received the terminal can find it; the job does not wait for it
  yield* log.stageJob(toRecord(job, end, json))
  yield* deliver(job, env, json)
  // repeats of the command (same idempotency key) are answered with this terminal (internal/Repeats)
  yield* job.settleEnded(env)
})

/**
 * A scheduled firing ends as WIRE says jobs started by a schedule end: `job.completed` /
 * `job.failed` (nobody invoked it, so there is no tool.invoke to answer); others are unchanged.
 */
export const forJob = (job: Job, terminal: Terminal): Terminal => {
  if (job.scheduleId === undefined && job.endsAsJob !== true) return terminal
  if (terminal.type === "tool.result") {
    const { value } = terminal.payload
    return { type: "job.completed", payload: value === undefined ? {} : { result: value }, state: "completed" }
  }
  return terminal.type === "tool.error" ? { ...terminal, type: "job.failed" } : terminal
}

/** The JSON of a terminal envelope, or why it cannot be sent (not representable, or nested past the limit). */
const encodable = (env: Decoded, maxJsonDepth: number): Either.Either<string, string> =>
  Either.flatMap(
    tryEncode(env),
    (json) =>
      exceedsDepth(json, maxJsonDepth)
        ? Either.left(`it nests deeper than ${maxJsonDepth} levels (--max-json-depth)`)
        : Either.right(json)
  )

/** The terminal of a cancelled job: its cancel request's reason and source. */
export const cancelled = (job: Job): Terminal => ({
  type: "job.cancelled",
  payload: {
    ...(job.cancelRequest?.reason !== undefined ? { reason: job.cancelRequest.reason } : {}),
    source: job.cancelRequest?.source ?? "runtime"
  },
  state: "cancelled"
})

/** The terminal of a job the runtime ended (ABORTED, HEARTBEAT_LOST, an expired interrupt): not retryable. */
export const failed = (error: Omit<ErrorPayload, "retryable">): Terminal => ({
  type: "job.failed",
  payload: { ...error, retryable: false },
  state: "failed"
})
