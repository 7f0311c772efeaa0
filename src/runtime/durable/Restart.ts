/**
 * The live job of a job record an earlier runtime left running (RFC §4.3): same
 * id, session and command, detached (its events go to the log until its session
 * comes back), at the settings its session negotiated (stored with the session).
 */
import { Clock, type Context, Effect, Option, Schema } from "effect"
import { Capabilities } from "../../protocol/Capabilities.js"
import { JobId, MessageId, SessionId } from "../../protocol/Ids.js"
import { TrustLevel } from "../../protocol/messages/Common.js"
import type { EventLog, JobRecord } from "../../store/EventLog.js"
import { Job } from "../jobs/Job.js"
import type { Settings } from "../RuntimeConfig.js"
import type { Restored, Tool } from "../Tools.js"

const decodeCapabilities = Schema.decodeUnknownOption(Schema.parseJson(Capabilities))
const decodeTrust = Schema.decodeUnknownOption(TrustLevel)

export interface RestartContext {
  readonly log: Context.Tag.Service<typeof EventLog>
  readonly settings: Settings
  readonly instanceId: string
  /** How it records its events while detached. */
  readonly record: Job["record"]
  /** What it waits for before each event: the room of the sessions following it. */
  readonly followersRoom: Job["followersRoom"]
}

/** Builds the job of `record` to run again from `restored`. */
export const restoredJob = Effect.fnUntraced(function*(
  ctx: RestartContext,
  record: JobRecord,
  tool: Tool,
  restored: Restored
) {
  const session = yield* ctx.log.getSession(record.session_id).pipe(Effect.orElseSucceed(() => Option.none()))
  const negotiated = Option.flatMap(session, (s) => decodeCapabilities(s.capabilities))
  const now = yield* Clock.currentTimeMillis
  return new Job({
    id: JobId.make(record.job_id),
    tool,
    principal: record.principal,
    sessionId: SessionId.make(record.session_id),
    commandId: MessageId.make(record.command_id),
    traceId: undefined,
    priority: undefined,
    idempotencyKey: record.idempotency_key,
    acceptedAt: record.created_at,
    heartbeatIntervalMs: Option.match(negotiated, {
      onNone: () => ctx.settings.heartbeatIntervalSeconds,
      onSome: (c) => c.heartbeat_interval_seconds ?? ctx.settings.heartbeatIntervalSeconds
    }) * 1000,
    // the level its session was admitted at; unknown: the least
    trustLevel: Option.getOrElse(
      Option.flatMap(session, (s) => decodeTrust(s.trust_level)),
      () => "untrusted" as const
    ),
    humanInput: Option.match(negotiated, { onNone: () => false, onSome: (c) => c.human_input === true }),
    // detached until its session comes back and follows its feed (§19)
    watcher: undefined,
    // no session has asked for its metric events yet (they are aggregated all the same)
    metrics: false,
    record: ctx.record,
    followersRoom: ctx.followersRoom,
    instanceId: ctx.instanceId,
    argumentsJson: record.arguments,
    restored,
    now,
    // job.accepted and tool.invocations went out in its first run
    resumed: { retryCount: record.retry_count, checkpointId: restored.checkpointId }
  })
})
