/**
 * Jobs and other runtimes on the same store (§4.3, issue 17): at start and while running, takes over the
 * jobs of runtimes that went (recovery, takeover sweep, restart from a checkpoint), carries out the cancels and interrupts other
 * runtimes send for jobs running here (JobControl), and finds the live record of a job another runtime runs.
 */
import { type Context, type Duration, Effect, Option } from "effect"
import type { ArcpError } from "../../protocol/Errors.js"
import { MessageId } from "../../protocol/Ids.js"
import type { EventLog, EventLogError, JobRecord } from "../../store/EventLog.js"
import type { RuntimeInstance } from "../durable/Instance.js"
import * as JobControl from "../durable/JobControl.js"
import { recoverAll, type RecoveryContext } from "../durable/Recovery.js"
import { restoredJob } from "../durable/Restart.js"
import * as Takeover from "../durable/Takeover.js"
import type { Feed } from "../events/Feed.js"
import type { Recorder } from "../events/Recorder.js"
import type { HumanInput } from "../HumanInput.js"
import type { Settings } from "../RuntimeConfig.js"
import type { ToolContext, ToolRegistry } from "../Tools.js"
import { hasEnded, type Job } from "./Job.js"

export interface CrossRuntimeContext {
  readonly log: Context.Tag.Service<typeof EventLog>
  readonly recorder: Context.Tag.Service<typeof Recorder>
  readonly instance: Context.Tag.Service<typeof RuntimeInstance>
  readonly tools: Context.Tag.Service<typeof ToolRegistry>
  readonly settings: Settings
  readonly feed: Context.Tag.Service<typeof Feed>
  readonly humanInput: Context.Tag.Service<typeof HumanInput>
  /** The live jobs of this runtime, by id. */
  readonly live: ReadonlyMap<string, Job>
  /** The record of job `jobId`, when `principal` may see it. */
  readonly recordFor: (principal: string, jobId: string) => Effect.Effect<Option.Option<JobRecord>, EventLogError>
  /** Tracks a job and runs it on its own fiber (Jobs). */
  readonly launch: (
    job: Job,
    handler: (ctx: ToolContext) => Effect.Effect<unknown, ArcpError>
  ) => Effect.Effect<unknown>
  /** How a job records its events while no session of its own is connected. */
  readonly recordDetached: (sessionId: string, principal: string, id: string) => Job["record"]
  /** Runs an effect on the runtime's background fibers. */
  readonly background: (effect: Effect.Effect<void>) => Effect.Effect<void>
  /** Interrupts a job's fiber and waits up to the deadline for it to end (Jobs). */
  readonly stop: (job: Job, deadline: Duration.Duration) => Effect.Effect<void>
  /** The cancellation deadline of a request (the runtime's default when it names none). */
  readonly deadlineOf: (ms: number | undefined) => Duration.Duration
  /** Blocks a live job on a human answer (§10.5). */
  readonly block: (job: Job, messageId: MessageId, prompt: string | undefined) => Effect.Effect<void>
}

export interface CrossRuntime {
  /** What answering a cancel / interrupt of a job another runtime runs needs (JobControl). */
  readonly elsewhere: JobControl.ElsewhereContext
  /** The live record of a job another runtime runs, as `principal` may see it (None: not such a job). */
  readonly runningElsewhere: (principal: string, jobId: string) => Effect.Effect<Option.Option<JobRecord>>
}

/** Takes over what gone runtimes left, then, for the life of the scope, keeps doing so and serves other runtimes. */
export const start = Effect.fnUntraced(function*(ctx: CrossRuntimeContext) {
  const { feed, humanInput, instance, live, log, recorder, settings, tools } = ctx
  /** A job an earlier runtime left running, started again from its checkpoint (§4.3), under its id. */
  const restart: RecoveryContext["restart"] = (record, tool, handler, restored) =>
    Effect.flatMap(
      restoredJob(
        {
          log,
          settings,
          instanceId: instance.id,
          record: ctx.recordDetached(record.session_id, record.principal, record.job_id),
          followersRoom: feed.room({
            sessionId: record.session_id,
            principal: record.principal,
            jobId: record.job_id
          })
        },
        record,
        tool,
        restored
      ),
      (job) => ctx.launch(job, handler)
    )
  /** Cancels live job `jobId` for a cancel received elsewhere (JobControl) or recorded before a takeover. */
  const cancelHere = (jobId: string, reason: string | undefined, deadlineMs: number | undefined) =>
    Effect.suspend(() => {
      const job = live.get(jobId)
      if (job === undefined || hasEnded(job) || !job.tool.cancellable || job.cancelRequest !== undefined) {
        return Effect.void
      }
      if (!job.requestCancel({ reason, source: "client" })) return Effect.void
      return ctx.background(ctx.stop(job, ctx.deadlineOf(deadlineMs)))
    })
  const elsewhere: JobControl.ElsewhereContext = {
    log,
    recorder,
    cancellable: (name) => Option.exists(tools.get(name), (t) => t.cancellable)
  }
  const runningElsewhere = (principal: string, jobId: string) =>
    Effect.map(
      ctx.recordFor(principal, jobId).pipe(Effect.orElseSucceed(() => Option.none<JobRecord>())),
      Option.filter((r) => r.terminal === undefined && r.instance_id !== instance.id)
    )

  // jobs an earlier runtime left running: resumed from their checkpoints or ended, before any session asks for them
  const takeover: Takeover.TakeoverContext = {
    log,
    recorder,
    instance,
    tools,
    restart,
    cancel: cancelHere,
    settings
  }
  const settled = new Set<string>()
  yield* recoverAll(takeover)
  yield* Takeover.settleAtStart(takeover, settled)
  // then, while running: those of runtimes whose lease lapses, and what other runtimes ask of the jobs here
  yield* Takeover.run(takeover, settled)
  yield* JobControl.listen(feed, (request) =>
    request.action === "cancel" ?
      cancelHere(request.job_id, request.reason, request.deadline_ms) :
      Effect.suspend(() => {
        const job = live.get(request.job_id)
        if (job === undefined || hasEnded(job) || !job.humanInput) return Effect.void
        return (job.gate === undefined ? humanInput.admit(job.sessionId) : Effect.void).pipe(
          Effect.zipRight(ctx.block(job, MessageId.make(request.message_id), request.prompt)),
          Effect.catchAll((e) => Effect.logWarning(`cannot interrupt job ${job.id} for another runtime`, e))
        )
      }))
  return { elsewhere, runningElsewhere }
})
