/**
 * Who a job belongs to and who watches it: the session that started it (its
 * `Owner`, as the connection describes itself) and the watcher entry its
 * events are delivered through.
 */
import type { Effect, Scope } from "effect"
import type { SessionId } from "../../protocol/Ids.js"
import type { Decoded } from "../../protocol/Message.js"
import type { TrustLevel } from "../../protocol/messages/Common.js"
import type { Room } from "../outbound/OutboundApi.js"

/**
 * Where a job's events go: the outbound path of a session that watches it. `json`, when given, is the
 * envelope's JSON already made (a terminal's, checked before it is sent): not encoded again.
 */
export type Sink = (envelope: Decoded, json?: string) => Effect.Effect<void>

/** Who started or watches a job. */
export interface Owner {
  readonly sessionId: SessionId
  readonly principal: string
  readonly sink: Sink
  /** The session's outbound buffer: its events wait for room there (absent: they never wait). */
  readonly buffer?: Room | undefined
  /** The negotiated `heartbeat_interval_seconds` (§10.3). */
  readonly heartbeatIntervalSeconds: number
  /** The session's trust level (§15.3), from its credentials. */
  readonly trustLevel: TrustLevel
  /** Whether the session negotiated `human_input` (§12): no human request is sent to it otherwise. */
  readonly humanInput: boolean
  /** The connection's scope: what follows a job for this session ends with it (absent: with the job). */
  readonly scope?: Scope.Scope | undefined
  /** Whether the session negotiated `arcpx.arcp.metrics.v1`: the runtime's per-job metrics as events (absent: no). */
  readonly metrics?: boolean | undefined
}

/** The job's own session, watching it. */
export interface Watcher {
  readonly sessionId: SessionId
  readonly deliver: Sink
  /** Its outbound buffer (see `Owner.buffer`). */
  readonly buffer: Room | undefined
}

/** The watcher entry of the session `owner` (which started the job). */
export const watcherOf = (owner: Owner): Watcher => ({
  sessionId: owner.sessionId,
  deliver: owner.sink,
  buffer: owner.buffer
})
