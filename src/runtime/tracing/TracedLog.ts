/**
 * Log commits as spans (§17.1): the event log's awaited writes (a job's
 * record, a detached job's events, a claimed idempotency key), each a child
 * of the operation that waits on it. Writes with no trace around them (the
 * outbound writer's group commits) are not traced.
 */
import { Effect, Layer } from "effect"
import { EventLog } from "../../store/EventLog.js"
import { tracedIfParent } from "./Spans.js"

/** The event log below, its awaited writes traced. */
export const layer: Layer.Layer<EventLog, never, EventLog> = Layer.effect(
  EventLog,
  Effect.map(EventLog, (log) =>
    EventLog.of({
      ...log,
      saveJob: (job) => tracedIfParent("arcp log.save_job", { "arcp.job_id": job.job_id })(log.saveJob(job)),
      recordOutbound: (envelopes) =>
        tracedIfParent("arcp log.record_outbound", { "arcp.count": envelopes.length })(log.recordOutbound(envelopes)),
      claimIdempotencyKey: (claim) => tracedIfParent("arcp log.claim_idempotency_key")(log.claimIdempotencyKey(claim))
    }))
)
