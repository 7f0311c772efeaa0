/**
 * Ending a running job from outside its fiber: a cancel (interrupted, ABORTED past the deadline, §10.4) and
 * an interrupt nobody answered in time (§12.4).
 */
import { type Duration, Effect, FiberMap, Option } from "effect"
import { cancelled, failed, type Terminal } from "../internal/Finish.js"
import type { Job } from "./Job.js"

export interface StopContext {
  /** The jobs' fibers, by job id. */
  readonly fibers: FiberMap.FiberMap<string>
  /** The one way a job ends (internal/Finish). */
  readonly finish: (job: Job, terminal: Terminal) => Effect.Effect<void>
  /** Removes the job from the live jobs. */
  readonly forget: (id: string) => void
}

/**
 * Interrupts the job's fiber and waits up to `deadline` for it to stop;
 * past that the job ends ABORTED and its fiber is left to finish on its own
 * (§10.4). A fiber interrupted before it ran left no terminal: it ends here.
 */
export const stop = (ctx: StopContext, job: Job, deadline: Duration.Duration): Effect.Effect<void> =>
  Effect.gen(function*() {
    const fiber = yield* Effect.option(FiberMap.get(ctx.fibers, job.id))
    if (Option.isSome(fiber)) {
      const f = fiber.value
      const stopped = yield* f.interruptAsFork(f.id()).pipe(
        Effect.zipRight(f.await),
        Effect.timeout(deadline),
        Effect.option
      )
      if (Option.isNone(stopped)) {
        return yield* ctx.finish(
          job,
          failed({
            code: "ABORTED",
            message: "the job did not stop within the cancellation deadline; it was abandoned"
          })
        )
      }
    }
    yield* ctx.finish(job, cancelled(job))
  }).pipe(Effect.ensuring(Effect.sync(() => ctx.forget(job.id))))

/** An interrupt nobody answered in time fails the job (§12.4). */
export const expireInterrupt = (ctx: StopContext, job: Job): Effect.Effect<void> =>
  Effect.suspend(() => {
    // this very fiber was the pending answer: nothing left to withdraw
    job.takeInterruptAnswer()
    return ctx.finish(
      job,
      failed({ code: "DEADLINE_EXCEEDED", message: "the interrupt was not answered before it expired" })
    )
  }).pipe(
    Effect.zipRight(FiberMap.remove(ctx.fibers, job.id)),
    Effect.ensuring(Effect.sync(() => ctx.forget(job.id)))
  )
