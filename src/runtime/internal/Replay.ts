/**
 * Answers to a retransmitted message id (RFC §6.4): it is not executed again;
 * the session gets what answered it the first time and, when that was a job,
 * the job's events so far — and, while the job lives, the rest as it goes.
 * Everything is read through the `Feed` (visibility checked there).
 */
import { Effect, Option } from "effect"
import type { ArcpError } from "../../protocol/Errors.js"
import { MessageId } from "../../protocol/Ids.js"
import type { Decoded } from "../../protocol/Message.js"
import type { EventLogError, JobRecord } from "../../store/EventLog.js"
import type { Published } from "../events/EventBus.js"
import type { Feed } from "../events/Feed.js"
import { relay } from "../events/Relayed.js"
import type { Job, Owner } from "../jobs/Job.js"
import { isTerminal } from "./Finish.js"
import { type WatchContext, watchJob } from "./Watch.js"

export interface ReplayContext extends WatchContext {
  readonly feed: Feed["Type"]
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
const answersAnother = (envelope: Decoded, messageId: string) =>
  envelope.correlation_id !== undefined && envelope.correlation_id !== messageId &&
  (envelope.type === "job.accepted" || isTerminal(envelope))

/** The job a message started: named by the job.accepted that answered it, or a live job still in acceptance. */
const jobOf = (
  ctx: ReplayContext,
  messageId: string,
  owner: Owner,
  answers: ReadonlyArray<Published>
): string | undefined => {
  const accepted = answers.find((a) => a.envelope.type === "job.accepted" && a.envelope.job_id !== undefined)
  if (accepted?.envelope.job_id !== undefined) return accepted.envelope.job_id
  for (const job of ctx.liveOf(owner.principal)) {
    if (job.commandId === messageId) return job.id
  }
  return undefined
}

/**
 * Replays, in log order and once per envelope id, what answered `messageId`
 * — or, when it started a job, that job's events from the first, then live
 * until its terminal — relayed to the owner's session (same ids: a client
 * dedups).
 */
export const replay = (ctx: ReplayContext, messageId: string, owner: Owner): Effect.Effect<void> =>
  Effect.gen(function*() {
    const answers = yield* ctx.feed.history({ correlation_id: [messageId] }, { principal: owner.principal })
    const jobId = jobOf(ctx, messageId, owner, answers)
    // a repeated command replays only its own answers (plus its terminal, if it had none yet)
    const repeat = jobId !== undefined && !(yield* created(ctx, jobId, messageId, owner))
    if (jobId !== undefined && !repeat) {
      return yield* Effect.asVoid(watchJob(ctx, owner, jobId, {
        commandId: messageId,
        live: ctx.liveFor(owner.principal, jobId),
        after: 0,
        skip: (envelope) => answersAnother(envelope, messageId)
      }))
    }
    const seen = new Set<string>()
    for (const { envelope } of answers) {
      if (seen.has(envelope.id)) continue
      seen.add(envelope.id)
      // a long history waits for room in the session's buffer, as a job's own events do
      yield* Effect.zipRight(owner.buffer?.room ?? Effect.void, owner.sink(relay(envelope, owner.sessionId)))
    }
    if (repeat && !answers.some((a) => isTerminal(a.envelope))) {
      yield* ctx.answerRepeat(jobId, MessageId.make(messageId))
    }
  }).pipe(
    Effect.zipRight(Effect.logInfo(`duplicate message ${messageId} not executed again; its answers were replayed`)),
    Effect.catchAll((e) => Effect.logError(`cannot replay the answers to ${messageId}`, e))
  )
