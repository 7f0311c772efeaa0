/**
 * Answers to a retransmitted message id (RFC §6.4): it is not executed again;
 * the session gets what answered it the first time and, when that was a job,
 * the job's events so far — and, while the job lives, the rest as it goes.
 */
import { type Context, Effect, Either, Option } from "effect"
import type { ArcpError } from "../../protocol/Errors.js"
import { MessageId } from "../../protocol/Ids.js"
import { type Decoded, decodeJson } from "../../protocol/Message.js"
import { type EventLog, type EventLogError, type JobRecord, readAll, type StoredEvent } from "../../store/EventLog.js"
import { attach, type Job, type Owner, watches } from "../Job.js"
import { isTerminal } from "./Repeats.js"

export interface ReplayContext {
  readonly log: Context.Tag.Service<typeof EventLog>
  /** The live job of that id, when the principal may see it. */
  readonly liveFor: (principal: string, jobId: string) => Job | undefined
  /** The live jobs the principal may see, to find one still in acceptance. */
  readonly liveOf: (principal: string) => Iterable<Job>
  /** The record of job `jobId`, when the principal may see it. */
  readonly recordFor: (principal: string, jobId: string) => Effect.Effect<Option.Option<JobRecord>, EventLogError>
  /** Sends a repeated command (same idempotency key) the terminal of the job it names, now or when it ends. */
  readonly answerRepeat: (jobId: string, commandId: MessageId) => Effect.Effect<void, ArcpError>
}

/** Whether `messageId` created job `jobId` (rather than repeating the command that did, §6.4). */
const created = (ctx: ReplayContext, jobId: string, messageId: string, owner: Owner) =>
  Effect.suspend(() => {
    const job = ctx.liveFor(owner.principal, jobId)
    if (job !== undefined) return Effect.succeed(job.commandId === messageId)
    return Effect.map(
      ctx.recordFor(owner.principal, jobId),
      (r) => Option.isNone(r) || r.value.command_id === messageId
    )
  })

/** A job.accepted or terminal answering another command: a repeat's answers are its own, not the job's events. */
const answersAnother = (row: StoredEvent, messageId: string) =>
  row.correlation_id !== undefined && row.correlation_id !== messageId &&
  (row.type === "job.accepted" || isTerminal(row))

/** The job a message started: named by the job.accepted that answered it, or a live job still in acceptance. */
const jobOf = (
  ctx: ReplayContext,
  messageId: string,
  owner: Owner,
  answers: ReadonlyArray<StoredEvent>
): string | undefined => {
  const accepted = answers.find((a) => a.type === "job.accepted" && a.job_id !== undefined)
  if (accepted?.job_id !== undefined) return accepted.job_id
  for (const job of ctx.liveOf(owner.principal)) {
    if (job.commandId === messageId) return job.id
  }
  return undefined
}

/**
 * Replays, in log order and once per envelope id, the envelopes that answered
 * `messageId` and the events of the job it started, re-addressed to the
 * owner's session (same ids: a client dedups). A job still running gets the
 * session attached, after the events the log may not hold yet (still queued
 * on another connection), so nothing is missed or reordered.
 */
export const replay = (ctx: ReplayContext, messageId: string, owner: Owner): Effect.Effect<void> =>
  Effect.gen(function*() {
    // every read takes the asking principal: another principal's answers and job events are never seen
    const mine = (row: StoredEvent) => row.principal === owner.principal
    const answers = (yield* readAll(ctx.log, { correlation_id: [messageId], direction: "out" })).filter(mine)
    const jobId = jobOf(ctx, messageId, owner, answers)
    // a repeated command replays only its own answers (plus its terminal, if it had none yet)
    const repeat = jobId !== undefined && !(yield* created(ctx, jobId, messageId, owner))
    const history = jobId === undefined || repeat
      ? []
      : (yield* readAll(ctx.log, { job_id: [jobId], direction: "out" })).filter(mine).filter((row) =>
        !answersAnother(row, messageId)
      )
    const seen = new Set<string>()
    // a long history waits for room in the session's buffer, as a job's own events do
    const send = (envelope: Decoded) =>
      Effect.zipRight(owner.room ?? Effect.void, owner.sink({ ...envelope, session_id: owner.sessionId }))
    const rows = [...answers, ...history].sort((a, b) => a.position - b.position)
    for (const row of rows) {
      if (seen.has(row.id)) continue // one row per session it went to
      seen.add(row.id)
      const previous = decodeJson(row.json)
      if (Either.isRight(previous)) yield* send(previous.right)
    }
    if (repeat && !answers.some(isTerminal)) yield* ctx.answerRepeat(jobId, MessageId.make(messageId))
    const job = jobId === undefined || repeat ? undefined : ctx.liveFor(owner.principal, jobId)
    if (job !== undefined && !watches(job, owner)) {
      // sends what the log lacked, until nothing is missing; then attaches in the same step
      const catchUp: Effect.Effect<void> = Effect.suspend(() => {
        const missing = job.recent.filter((e) => !seen.has(e.id))
        if (missing.length === 0) {
          if (!job.finished) attach(job, owner)
          return Effect.void
        }
        for (const e of missing) seen.add(e.id)
        return Effect.zipRight(Effect.forEach(missing, send, { discard: true }), catchUp)
      })
      yield* catchUp
    }
    yield* Effect.logInfo(`duplicate message ${messageId} not executed again; replayed ${seen.size} envelopes`)
  }).pipe(Effect.catchAll((e) => Effect.logError(`cannot replay the answers to ${messageId}`, e)))
