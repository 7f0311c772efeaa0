/**
 * The jobs this runtime runs, by id and per session: who may see one (its own principal only, checked
 * here) and the --max-jobs-per-session admission.
 */
import { Effect } from "effect"
import { ArcpError } from "../../protocol/Errors.js"
import type { Settings } from "../RuntimeConfig.js"
import type { Job, Owner } from "./Job.js"

export interface LiveJobs {
  /** The live jobs by id (a job claiming its idempotency key is set here once it wins the claim). */
  readonly live: Map<string, Job>
  /** The live job `jobId` as `principal` may see it: only its own principal's sessions may (one check, here). */
  readonly liveFor: (principal: string, jobId: string) => Job | undefined
  /** The live jobs of `principal`. */
  readonly liveOf: (principal: string) => Array<Job>
  /** Adds a job about to run (counted against its session). */
  readonly track: (job: Job) => void
  /** Removes an ended (or abandoned) job. */
  readonly forget: (id: string) => void
  /** RESOURCE_EXHAUSTED when the session already runs as many jobs as --max-jobs-per-session allows. */
  readonly admit: (owner: Owner) => Effect.Effect<void, ArcpError>
}

export const make = (settings: Settings): LiveJobs => {
  const live = new Map<string, Job>()
  const liveFor = (principal: string, jobId: string): Job | undefined => {
    const job = live.get(jobId)
    return job !== undefined && job.principal === principal ? job : undefined
  }
  const liveOf = (principal: string) => [...live.values()].filter((job) => job.principal === principal)
  // live jobs per session, for --max-jobs-per-session; a session's invokes are handled one at a time, so check-then-add holds
  const running = new Map<string, number>()
  const track = (job: Job) => {
    live.set(job.id, job)
    running.set(job.sessionId, (running.get(job.sessionId) ?? 0) + 1)
  }
  const forget = (id: string) => {
    const job = live.get(id)
    if (job === undefined || !live.delete(id)) return
    const left = (running.get(job.sessionId) ?? 1) - 1
    if (left <= 0) running.delete(job.sessionId)
    else running.set(job.sessionId, left)
  }
  const admit = (owner: Owner) =>
    Effect.suspend(() => {
      const count = running.get(owner.sessionId) ?? 0
      if (count < settings.maxJobsPerSession) return Effect.void
      return Effect.fail(
        ArcpError.of(
          "RESOURCE_EXHAUSTED",
          `this session already runs ${count} jobs, the limit (--max-jobs-per-session); invoke again when one has ended`,
          { details: { running: count, max_jobs_per_session: settings.maxJobsPerSession } }
        )
      )
    })
  return { live, liveFor, liveOf, track, forget, admit }
}
