/**
 * Jobs lost when an earlier runtime stopped (RFC §10.2, §6.4): a job record
 * that never ended, with no job running for it here, is ended and its terminal
 * recorded like every other terminal, so a repeat of its idempotency key or message
 * id replays an outcome instead of waiting forever. Jobs are not resumed
 * (docs/decisions.md).
 */
import { Clock, type Context, Effect } from "effect"
import { make as makeEnvelope } from "../../protocol/Envelope.js"
import type { ErrorPayload } from "../../protocol/Errors.js"
import { JobId, MessageId, SessionId, TraceId } from "../../protocol/Ids.js"
import { encodeUnchecked } from "../../protocol/Message.js"
import { type EventLog, type JobRecord, readAll } from "../../store/EventLog.js"
import type { Recorder } from "../events/Recorder.js"
import { terminalStates } from "./Finish.js"

/** The `job.failed` payload of a lost job: hard termination, and not retryable (its tool may have run in part). */
export const lostError: ErrorPayload = {
  code: "ABORTED",
  message: "the runtime stopped while the job ran; it was not resumed",
  retryable: false
}

/**
 * Ends one lost job and returns its terminal's JSON. A terminal the job's
 * events already hold (sent, but its record write failed) is kept: the outcome
 * a client may have seen is never contradicted. Otherwise a `job.failed` with `lostError` is
 * built like the job's own events (job id, causation = the invoke, its trace
 * id), saved in the record, then recorded (and published) among the job's events.
 */
export const endLost = Effect.fnUntraced(function*(
  log: Context.Tag.Service<typeof EventLog>,
  recorder: Context.Tag.Service<typeof Recorder>,
  record: JobRecord
) {
  const events = yield* readAll(log, { job_id: [record.job_id], direction: "out" })
  const now = yield* Clock.currentTimeMillis
  for (const sent of events) {
    const state = terminalStates.get(sent.type)
    if (state === undefined) continue
    yield* log.saveJob({ ...record, state, terminal: sent.json, updated_at: now })
    return sent.json
  }
  const traceId = events.find((e) => e.trace_id !== undefined)?.trace_id
  const sessionId = SessionId.make(record.session_id)
  const env = yield* makeEnvelope("job.failed", lostError, {
    session_id: sessionId,
    job_id: JobId.make(record.job_id),
    causation_id: MessageId.make(record.command_id),
    priority: "critical",
    ...(traceId !== undefined ? { trace_id: TraceId.make(traceId) } : {})
  })
  const json = encodeUnchecked(env)
  yield* log.saveJob({ ...record, state: "failed", terminal: json, updated_at: now })
  yield* recorder.record([{ envelope: env, sessionId, principal: record.principal, json }])
  return json
})

/**
 * Ends every job an earlier runtime left unfinished: run once as the runtime
 * starts, before any session can repeat their commands. A storage failure is
 * logged, not fatal: a repeat then ends the job it names (`endLost`).
 */
export const endAllLost = (
  log: Context.Tag.Service<typeof EventLog>,
  recorder: Context.Tag.Service<typeof Recorder>
): Effect.Effect<void> =>
  Effect.gen(function*() {
    const lost = yield* log.unfinishedJobs
    yield* Effect.forEach(lost, (record) => endLost(log, recorder, record), { discard: true })
    if (lost.length > 0) {
      yield* Effect.logWarning(
        `${lost.length} job(s) left unfinished by an earlier runtime were ended: ${lostError.message}`
      )
    }
  }).pipe(Effect.catchAll((e) => Effect.logError("cannot end the jobs an earlier runtime left unfinished", e)))
