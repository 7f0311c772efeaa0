/**
 * A session letting go of its jobs or taking others over: `release` when it goes (§9, §10.4: detached, or
 * cancelled together with a deadline) and `adopt` on a handoff (§14: the jobs' later events go to it).
 */
import { type Duration, Effect } from "effect"
import { envelope, hasEnded, type Job, type Owner } from "./Job.js"

export interface HandoffContext {
  /** The live jobs of this runtime, by id. */
  readonly live: ReadonlyMap<string, Job>
  /** Interrupts a job's fiber and waits up to the deadline for it to end (Jobs). */
  readonly stop: (job: Job, deadline: Duration.Duration) => Effect.Effect<void>
  /** The cancellation deadline of a request (the runtime's default when it names none). */
  readonly deadlineOf: (ms: number | undefined) => Duration.Duration
  /** Repeats waiting for a running job's terminal, each with the session to answer (internal/Repeats). */
  readonly waiting: Map<string, Owner>
}

/** How a session lets go of its jobs: the closer's reason and deadline, when it gave them. */
export interface ReleaseOptions {
  readonly reason?: string | undefined
  readonly deadline_ms?: number | undefined
}

/** §9: a job that cannot be cancelled is completed, detached; the closer hears why it did not end. */
const runOnDetached = Effect.fnUntraced(function*(job: Job, owner: Owner) {
  const where = job.idempotencyKey !== undefined ? "the job record and its idempotency_key" : "the job record"
  const message = `job ${job.id} cannot be cancelled: it runs to completion detached; its outcome stays in ${where}`
  yield* Effect.logInfo(message)
  yield* owner.sink(
    yield* envelope(job, "log", { level: "warn", message, attributes: { reason: "not_cancellable" } })
  )
})

/** `owner`'s session takes over the live jobs of its principal named by `target`; returns how many it took. */
export const adopt = (
  ctx: HandoffContext,
  owner: Owner,
  target: { readonly jobId?: string | undefined; readonly sessionId?: string | undefined }
): Effect.Effect<number> =>
  Effect.sync(() => {
    const taken = [...ctx.live.values()].filter((job) =>
      job.principal === owner.principal && !hasEnded(job) &&
      (job.id === target.jobId || (target.sessionId !== undefined && job.sessionId === target.sessionId))
    )
    // the handing session becomes the job's watcher: its later events go there
    // (re-addressed: every envelope a session receives names that session, §6.1.1)
    for (const job of taken) {
      job.watchBy({
        sessionId: owner.sessionId,
        deliver: (e) => owner.sink({ ...e, session_id: owner.sessionId }),
        buffer: owner.buffer
      })
    }
    return taken.length
  })

/** A session is going away: its jobs detached, or cancelled together (see Jobs.release). */
export const release = (
  ctx: HandoffContext,
  owner: Owner,
  mode: "cancel" | "detach",
  options: ReleaseOptions = {}
): Effect.Effect<void> =>
  Effect.suspend(() => {
    // its own jobs; what it follows of others' jobs ends with its connection's scope (internal/Watch)
    const own = [...ctx.live.values()].filter((j) => j.sessionId === owner.sessionId)
    // its repeats still waiting for a terminal answer nobody: a retransmit from a new session asks again
    const forget = () => {
      for (const [key, waiter] of ctx.waiting) if (waiter.sink === owner.sink) ctx.waiting.delete(key)
    }
    if (own.length === 0) {
      // most sessions end with no job live: no concurrent walk over nothing (issue 12)
      forget()
      return Effect.void
    }
    return Effect.forEach(own, (job) =>
      Effect.suspend(() => {
        // only this connection's hold: a connection that took the session back (§9) keeps its own
        const detach = Effect.sync(() => {
          if (job.watcher?.deliver === owner.sink) job.watchBy(undefined)
        })
        const theirs = job.watcher !== undefined && job.watcher.deliver !== owner.sink
        if (mode === "detach" || hasEnded(job) || theirs) return detach
        if (!job.tool.cancellable) return Effect.zipRight(runOnDetached(job, owner), detach)
        job.requestCancel({ reason: options.reason ?? "session closed", source: "client" })
        // the closing session still hears the terminal event, then lets go
        return Effect.zipRight(ctx.stop(job, ctx.deadlineOf(options.deadline_ms)), detach)
      }), { concurrency: "unbounded", discard: true }).pipe(Effect.zipRight(Effect.sync(forget)))
  })
