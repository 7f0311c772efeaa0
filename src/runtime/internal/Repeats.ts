/**
 * Repeats of a logical command (RFC §6.4): a `tool.invoke` whose
 * idempotency_key an earlier command of the same principal holds is not run
 * again. It is answered as itself — one `job.accepted` and one terminal, both
 * correlated to its own message id, carrying the earlier job's id and outcome —
 * whether that job is still running or has ended. A key reused for a different
 * command (another tool or other arguments) is refused ALREADY_EXISTS.
 */
import canonicalize from "canonicalize"
import { type Context, Effect, Either, Option } from "effect"
import { createHash } from "node:crypto"
import { make as makeEnvelope } from "../../protocol/Envelope.js"
import { ArcpError } from "../../protocol/Errors.js"
import { JobId, type MessageId } from "../../protocol/Ids.js"
import { type Decoded, decodeJson } from "../../protocol/Message.js"
import { fromMillis } from "../../protocol/Timestamp.js"
import type { EventLog, EventLogError, JobRecord } from "../../store/EventLog.js"
import type { Recorder } from "../events/Recorder.js"
import type { Job, Owner } from "../jobs/Job.js"
import { isTerminal } from "./Finish.js"
import { endLost } from "./Lost.js"
import { type WatchContext, watchJob } from "./Watch.js"

/**
 * What a command asks for, as stored with its idempotency key: a SHA-256 of the
 * canonical JSON (RFC 8785: sorted keys, one spelling per number) of the tool and
 * its arguments, absent arguments counting as `{}`. INVALID_ARGUMENT when the
 * arguments cannot be serialized (nested beyond the stack).
 */
export const commandDigest = (tool: string, args: unknown): Effect.Effect<string, ArcpError> =>
  Effect.try({
    try: () => canonicalize({ tool, arguments: args ?? {} }) ?? "",
    catch: () => ArcpError.of("INVALID_ARGUMENT", "the arguments are nested too deeply to be compared")
  }).pipe(Effect.map((json) => `sha256:${createHash("sha256").update(json).digest("hex")}`))

/** The refusal of a key already used, within its horizon, for a different command. */
export const keyReused = (key: string): ArcpError =>
  ArcpError.of(
    "ALREADY_EXISTS",
    `idempotency_key "${key}" was already used for a different command (another tool or other arguments); ` +
      "use a new key for a new command",
    { details: { idempotency_key: key } }
  )

export interface RepeatContext extends WatchContext {
  readonly log: Context.Tag.Service<typeof EventLog>
  readonly recorder: Context.Tag.Service<typeof Recorder>
  /** The jobs of this runtime that have not left memory yet (running, or claiming their key), as `principal` may see them. */
  readonly jobOf: (principal: string, jobId: string) => Job | undefined
  /** The record of job `jobId`, when `principal` may see it. */
  readonly recordFor: (principal: string, jobId: string) => Effect.Effect<Option.Option<JobRecord>, EventLogError>
  /**
   * Repeats waiting for a running job's terminal, by principal and message id,
   * each with the session to answer: one waiter per repeat, which answers the
   * session that last asked (a retransmit from a new connection retargets it).
   */
  readonly waiting: Map<string, Owner>
  /** How many repeats wait on each running job (bounded by MAX_WAITING_REPEATS). */
  readonly waitingPerJob: Map<string, number>
}

/** Most repeats one running job answers when it ends; past that a repeat is refused RESOURCE_EXHAUSTED. */
export const MAX_WAITING_REPEATS = 1024

/** The header of an answer to the repeat `commandId`, for `owner`'s session. */
const headerFor = (jobId: string, commandId: MessageId, owner: Owner) => ({
  session_id: owner.sessionId,
  job_id: JobId.make(jobId),
  correlation_id: commandId,
  causation_id: commandId
})

/** The earlier terminal, re-addressed to the repeat: a new envelope id, same type and payload. */
const terminalFor = (terminal: Decoded, jobId: string, commandId: MessageId, owner: Owner) =>
  Effect.map(makeEnvelope(terminal.type, {}, headerFor(jobId, commandId, owner)), (fresh): Decoded => ({
    ...terminal,
    ...headerFor(jobId, commandId, owner),
    id: fresh.id,
    timestamp: fresh.timestamp,
    priority: "critical"
  }))

export { isTerminal } from "./Finish.js"

/** Answers the repeat with the terminal of a running job once it has one (a waiter in the background). */
const follow = (ctx: RepeatContext, job: Job, commandId: MessageId, owner: Owner) =>
  Effect.suspend(() => {
    const key = `${owner.principal}\u0000${commandId}`
    const waiter = ctx.waiting.has(key)
    ctx.waiting.set(key, owner)
    if (waiter) return Effect.void
    const count = (delta: number) => {
      const n = (ctx.waitingPerJob.get(job.id) ?? 0) + delta
      if (n === 0) ctx.waitingPerJob.delete(job.id)
      else ctx.waitingPerJob.set(job.id, n)
    }
    count(1)
    // the job's other events reach this session too (from the Feed); its terminal comes as this command's own answer
    const watch = job.principal === owner.principal
      ? watchJob(ctx, owner, job.id, { commandId: job.commandId, live: job, after: "live", skip: isTerminal })
      : Effect.succeed(Effect.void)
    return Effect.flatMap(watch, (watched) =>
      ctx.background(
        job.ended.pipe(
          // the job's events this session follows come first, then its own terminal
          Effect.zipLeft(watched),
          Effect.flatMap((terminal) => {
            const target = ctx.waiting.get(key)
            ctx.waiting.delete(key)
            return target === undefined
              ? Effect.void
              : Effect.flatMap(terminalFor(terminal, job.id, commandId, target), target.sink)
          }),
          Effect.ensuring(Effect.sync(() => {
            ctx.waiting.delete(key)
            count(-1)
          }))
        )
      ))
  })

/**
 * Answers the repeat `commandId` of the command that created `jobId`: its own
 * `job.accepted` (unless `accepted` is false: a retransmit replays the one it
 * got), then the job's terminal — now when the job has ended, when it ends
 * otherwise. A job an earlier runtime left unfinished is ended first (ABORTED).
 */
export const answerRepeat = Effect.fnUntraced(function*(
  ctx: RepeatContext,
  jobId: string,
  commandId: MessageId,
  owner: Owner,
  options: { readonly accepted: boolean }
) {
  const header = headerFor(jobId, commandId, owner)
  const accept = (acceptedAt: number) =>
    options.accepted
      ? Effect.flatMap(
        makeEnvelope("job.accepted", { job_id: header.job_id, accepted_at: fromMillis(acceptedAt) }, header),
        owner.sink
      )
      : Effect.void
  // a job still in memory is read there: it leaves memory only once its terminal is recorded
  const job = ctx.jobOf(owner.principal, jobId)
  if (job !== undefined) {
    const waiting = ctx.waitingPerJob.get(jobId) ?? 0
    if (waiting >= MAX_WAITING_REPEATS && !ctx.waiting.has(`${owner.principal}\u0000${commandId}`)) {
      return yield* ArcpError.of(
        "RESOURCE_EXHAUSTED",
        `job ${jobId} already has ${waiting} repeats waiting for its outcome; repeat the command once it has ended`,
        { retryable: true }
      )
    }
    yield* accept(job.acceptedAt)
    return yield* follow(ctx, job, commandId, owner)
  }
  const unavailable = (e: EventLogError) => ArcpError.of("UNAVAILABLE", `cannot read job ${jobId}: ${e.message}`)
  const record = yield* ctx.recordFor(owner.principal, jobId).pipe(Effect.mapError(unavailable))
  if (Option.isNone(record)) {
    return yield* ArcpError.of("INTERNAL", `idempotency key names job ${jobId}, which has no record`)
  }
  // a record that never ended, of a job not running here, was lost (the sweep at start could not end it)
  const terminal = record.value.terminal ??
    (yield* endLost(ctx.log, ctx.recorder, record.value).pipe(Effect.mapError(unavailable)))
  yield* accept(record.value.created_at)
  const stored = decodeJson(terminal)
  if (Either.isRight(stored)) yield* Effect.flatMap(terminalFor(stored.right, jobId, commandId, owner), owner.sink)
})
