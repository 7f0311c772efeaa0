/**
 * Answers to a retransmitted message id (RFC §6.4): it is not executed again;
 * the session gets what answered it the first time and, when that was a job,
 * the job's events so far — and, while the job lives, the rest as it goes.
 */
import { type Context, Effect, Either } from "effect"
import { type Decoded, decodeJson } from "../../protocol/Message.js"
import type { EventLog, StoredEvent } from "../../store/EventLog.js"
import { attach, type Job, type Owner } from "../Job.js"

export interface ReplayContext {
  readonly log: Context.Tag.Service<typeof EventLog>
  /** The live job of that id, when the principal may see it. */
  readonly liveFor: (principal: string, jobId: string) => Job | undefined
  /** The live jobs the principal may see, to find one still in acceptance. */
  readonly liveOf: (principal: string) => Iterable<Job>
}

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
    const answers = yield* ctx.log.answersTo(owner.principal, messageId)
    const jobId = jobOf(ctx, messageId, owner, answers)
    const history = jobId === undefined ? [] : yield* ctx.log.jobEvents(owner.principal, jobId)
    const seen = new Set<string>()
    const send = (envelope: Decoded) => owner.sink({ ...envelope, session_id: owner.sessionId })
    const rows = [...answers, ...history].sort((a, b) => a.seq - b.seq)
    for (const row of rows) {
      if (seen.has(row.id)) continue // one row per session it went to
      seen.add(row.id)
      const previous = decodeJson(row.json)
      if (Either.isRight(previous)) yield* send(previous.right)
    }
    const job = jobId === undefined ? undefined : ctx.liveFor(owner.principal, jobId)
    if (job !== undefined && !job.sinks.has(owner.sink)) {
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
