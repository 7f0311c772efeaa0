/**
 * The `Owner` a connection's session gives the jobs it starts (JobOwner): where their events go, the room they
 * wait for, and what the session negotiated.
 */
import type { Scope } from "effect"
import { DEFAULT_HEARTBEAT_INTERVAL_SECONDS } from "../../protocol/Capabilities.js"
import { METRICS_EXTENSION } from "../../protocol/extensions/Metrics.js"
import type { Principal } from "../auth/Auth.js"
import type { Owner } from "../jobs/JobOwner.js"
import type { LiveSession } from "../LiveSession.js"
import type { Outbound } from "../outbound/OutboundApi.js"
import { trustOf } from "../permissions/Trust.js"
import type { Settings } from "../RuntimeConfig.js"

export const sessionOwner = (
  session: LiveSession,
  principal: Principal,
  outbound: Outbound,
  settings: Settings,
  scope: Scope.Scope
): Owner => ({
  sessionId: session.id,
  principal: principal.id,
  sink: (envelope, json) => outbound.send(envelope, json),
  buffer: outbound,
  heartbeatIntervalSeconds: session.capabilities.heartbeat_interval_seconds ?? DEFAULT_HEARTBEAT_INTERVAL_SECONDS,
  trustLevel: trustOf(principal, settings),
  humanInput: session.capabilities.human_input === true,
  scope,
  metrics: session.capabilities.extensions?.includes(METRICS_EXTENSION) === true
})
