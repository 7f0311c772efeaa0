/**
 * Settings of one runtime: its identity (§8.3), what it advertises (§7), and
 * the limits and timers of sessions (§8.4, §8.5).
 */
import { Context, Duration, Layer } from "effect"
import type { Capabilities } from "../protocol/Capabilities.js"
import { METRICS_EXTENSION } from "../protocol/extensions/Metrics.js"
import { TOOLS_EXTENSION } from "../protocol/extensions/ToolDiscovery.js"
import { DEFAULT_MAX_JSON_DEPTH } from "../protocol/JsonDepth.js"
import type { TrustLevel } from "../protocol/messages/Common.js"
import { SCHEDULES_EXTENSION } from "../protocol/messages/Execution.js"
import type { RuntimeIdentity } from "../protocol/messages/Session.js"
import { DEFAULT_MAX_FRAME_BYTES } from "../transport/Transport.js"
import { VERSION } from "../Version.js"
import type { Remote } from "./delegation/Remotes.js"
import { TRACE_EXTENSION } from "./tracing/SpanFeed.js"

export interface Options {
  /** Who the runtime says it is in `session.accepted`. */
  readonly identity?: Partial<RuntimeIdentity> | undefined
  /** The audience a `signed_jwt` must name (§8.2); defaults to `arcp://runtime`. */
  readonly audience?: string | undefined
  /** Extension names this runtime implements (§21.2), besides the built-in `arcpx.arcp.tools.v1`. */
  readonly extensions?: ReadonlyArray<string> | undefined
  /** Largest inbound frame; larger ones are answered with a nack (default 1 MiB). */
  readonly maxFrameBytes?: number | undefined
  /** Deepest JSON nesting accepted in a frame (the envelope is level 1); deeper ones are nacked (default 64). */
  readonly maxJsonDepth?: number | undefined
  /** A connection that has not completed the handshake by then is closed (default 30 s). */
  readonly handshakeTimeout?: Duration.DurationInput | undefined
  /** A session with no inbound traffic for this long is evicted (default 5 min). */
  readonly idleTimeout?: Duration.DurationInput | undefined
  /** How long a session's lease runs before the runtime asks for re-authentication (default 1 h). */
  readonly sessionLease?: Duration.DurationInput | undefined
  /** How long a client has to answer `session.refresh` (default 30 s). */
  readonly refreshDeadline?: Duration.DurationInput | undefined
  /** §10.3 heartbeat interval offered (default 30 s). */
  readonly heartbeatIntervalSeconds?: number | undefined
  /** Accept bare `x-` extension keys (§21.1: never in long-lived deployments; default false). */
  readonly allowExperimentalExtensions?: boolean | undefined
  /** What the heartbeat watchdog does after N missed deadlines: fail the job or block it (§10.3; default fail). */
  readonly heartbeatRecovery?: "fail" | "block" | undefined
  /** How long `(principal, idempotency_key)` is remembered (§6.4; default 24 h). */
  readonly idempotencyHorizon?: Duration.DurationInput | undefined
  /** The cancellation deadline when `cancel` names none (§10.4; default 5 s). */
  readonly cancelDeadline?: Duration.DurationInput | undefined
  /** How long an interrupt's human input request stays open (§10.5, §12.4; default 1 h). */
  readonly interruptExpiry?: Duration.DurationInput | undefined
  /** Artifact retention advertised and applied (§16.3): default and longest lifetime in seconds (1 day, 7 days). */
  readonly artifactRetention?: { readonly defaultSeconds: number; readonly maxSeconds: number } | undefined
  /** Largest artifact accepted, in bytes (default 1 GiB); larger puts are refused RESOURCE_EXHAUSTED. */
  readonly maxArtifactBytes?: number | undefined
  /** Total artifact bytes one principal may hold (default 10 GiB); RESOURCE_EXHAUSTED past it. */
  readonly artifactQuotaBytes?: number | undefined
  /** How often expired artifacts are removed from the store (default 60 s). */
  readonly artifactSweepInterval?: Duration.DurationInput | undefined
  /** The shortest time between two firings of a recurring schedule (§10.6; default 60 s). */
  readonly scheduleMinInterval?: Duration.DurationInput | undefined
  /** Most active schedules one principal may have (§10.6; default 1000; more: RESOURCE_EXHAUSTED). */
  readonly maxSchedulesPerPrincipal?: number | undefined
  /** A connection's outbound buffer, in bytes, counting what its transport holds (default 4 MiB). */
  readonly maxOutboundBytes?: number | undefined
  /** A connection's outbound buffer, in queued envelopes (default 4096). */
  readonly maxOutboundEnvelopes?: number | undefined
  /** How long a stream chunk waits for room before the stream ends BACKPRESSURE_OVERFLOW (§11.2; default 10 s). */
  readonly backpressureTimeout?: Duration.DurationInput | undefined
  /** A session whose buffer stays full with nothing read for this long is evicted BACKPRESSURE_OVERFLOW (default 30 s). */
  readonly stalledReaderTimeout?: Duration.DurationInput | undefined
  /** Open sessions per runtime; more are rejected RESOURCE_EXHAUSTED (default 4096). */
  readonly maxSessions?: number | undefined
  /** Running jobs per session; more invokes are refused RESOURCE_EXHAUSTED (default 256). */
  readonly maxJobsPerSession?: number | undefined
  /** Pending human input requests per session; more are refused RESOURCE_EXHAUSTED (default 64). */
  readonly maxPendingHuman?: number | undefined
  /** Open subscriptions per session (§13; default 32); more are refused RESOURCE_EXHAUSTED. */
  readonly maxSubscriptionsPerSession?: number | undefined
  /**
   * Events one subscription may have waiting for its reader (default 1024): past it the subscription is
   * closed with `subscribe.closed` BACKPRESSURE_OVERFLOW (§13.4) rather than hold the producers back.
   */
  readonly subscriptionQueue?: number | undefined
  /** How long a `permission.request` waits for its answer before the ask fails PERMISSION_DENIED (§15.4; default 5 min). */
  readonly permissionRequestTimeout?: Duration.DurationInput | undefined
  /** The lease a grant gets when neither the request nor the grant names one (§15.5; default 5 min). */
  readonly defaultLeaseDuration?: Duration.DurationInput | undefined
  /** The longest lease a grant or `lease.refresh` can get (§15.5; default 1 h). */
  readonly maxLeaseDuration?: Duration.DurationInput | undefined
  /** The trust level of a session whose credentials name none (§15.3; default trusted; anonymous sessions are untrusted). */
  readonly defaultTrustLevel?: TrustLevel | undefined
  /** Peer runtimes a tool may delegate to with `ctx.delegate` (§14), by name (default none). */
  readonly remotes?: ReadonlyMap<string, Remote> | undefined
  /**
   * How long a session whose connection went may be taken back with its `session_id` (§9, §19;
   * default 15 min); 0 turns durable sessions off (evictions then say allow_resume false).
   */
  readonly resumeWindow?: Duration.DurationInput | undefined
  /** How far back a `resume` may replay (§19; default 24 h): an older `after_message_id` is answered DATA_LOSS. */
  readonly replayRetention?: Duration.DurationInput | undefined
  /**
   * How long the event log keeps events, the message ids it deduplicates by and ended jobs' records before
   * `LogRetention` deletes them (default 24 h; never less than `replayRetention`). 0 or `Duration.infinity`
   * keeps everything, and the log then grows with every operation.
   */
  readonly logRetention?: Duration.DurationInput | undefined
  /**
   * How often this runtime renews its instance lease in the store and sweeps for instances whose lease
   * lapsed, taking over their jobs and sessions (§4.3; default 10 s). 0: no lease (judged by its
   * recorded stop or its pid only) and no sweep while running.
   */
  readonly instanceHeartbeat?: Duration.DurationInput | undefined
  /** How long an instance lease lasts past its last heartbeat (default 30 s): past it, the instance is gone. */
  readonly instanceLapse?: Duration.DurationInput | undefined
}

export interface Settings {
  readonly identity: RuntimeIdentity
  readonly audience: string
  readonly extensions: ReadonlyArray<string>
  readonly maxFrameBytes: number
  readonly maxJsonDepth: number
  readonly handshakeTimeout: Duration.Duration
  readonly idleTimeout: Duration.Duration
  readonly sessionLease: Duration.Duration
  readonly refreshDeadline: Duration.Duration
  readonly heartbeatIntervalSeconds: number
  readonly allowExperimentalExtensions: boolean
  readonly heartbeatRecovery: "fail" | "block"
  readonly idempotencyHorizon: Duration.Duration
  readonly cancelDeadline: Duration.Duration
  readonly interruptExpiry: Duration.Duration
  readonly artifactRetention: { readonly defaultSeconds: number; readonly maxSeconds: number }
  readonly maxArtifactBytes: number
  readonly artifactQuotaBytes: number
  readonly artifactSweepInterval: Duration.Duration
  readonly scheduleMinInterval: Duration.Duration
  readonly maxSchedulesPerPrincipal: number
  readonly maxOutboundBytes: number
  readonly maxOutboundEnvelopes: number
  readonly backpressureTimeout: Duration.Duration
  readonly stalledReaderTimeout: Duration.Duration
  readonly maxSessions: number
  readonly maxJobsPerSession: number
  readonly maxPendingHuman: number
  readonly maxSubscriptionsPerSession: number
  readonly subscriptionQueue: number
  readonly permissionRequestTimeout: Duration.Duration
  readonly defaultLeaseDuration: Duration.Duration
  readonly maxLeaseDuration: Duration.Duration
  readonly defaultTrustLevel: TrustLevel
  readonly remotes: ReadonlyMap<string, Remote>
  readonly resumeWindow: Duration.Duration
  readonly replayRetention: Duration.Duration
  readonly logRetention: Duration.Duration
  readonly instanceHeartbeat: Duration.Duration
  readonly instanceLapse: Duration.Duration
}

/** The defaults of the load limits (README "Limits"). */
export const DEFAULT_LIMITS = {
  maxOutboundBytes: 4 * 1024 * 1024,
  maxOutboundEnvelopes: 4096,
  backpressureTimeoutSeconds: 10,
  stalledReaderTimeoutSeconds: 30,
  maxSessions: 4096,
  maxJobsPerSession: 256,
  maxPendingHuman: 64,
  maxSubscriptionsPerSession: 32,
  subscriptionQueue: 1024
} as const

/** The resolved settings of the runtime. */
export class RuntimeConfig extends Context.Tag("arcp/RuntimeConfig")<RuntimeConfig, Settings>() {}

/** How far back a `resume` may replay: 24 h unless set. */
const replayRetentionOf = (options: Options): Duration.Duration =>
  Duration.decode(options.replayRetention ?? "24 hours")

/** The log retention asked for: 0 keeps everything (as `--log-retention 0`), else never shorter than the replay's. */
const logRetentionOf = (options: Options): Duration.Duration => {
  const asked = Duration.decode(options.logRetention ?? "24 hours")
  return Duration.isZero(asked) ? Duration.infinity : Duration.max(asked, replayRetentionOf(options))
}

/** Fills defaults. */
export const resolve = (options: Options = {}): Settings => ({
  identity: {
    kind: options.identity?.kind ?? "arcp",
    version: options.identity?.version ?? VERSION,
    ...(options.identity?.fingerprint !== undefined ? { fingerprint: options.identity.fingerprint } : {}),
    trust_level: options.identity?.trust_level ?? "trusted"
  },
  audience: options.audience ?? "arcp://runtime",
  // tool discovery, the schedule listing and per-job runtime metrics are built in: always advertised
  extensions: [
    ...new Set([
      TOOLS_EXTENSION,
      ...(options.extensions ?? []),
      SCHEDULES_EXTENSION,
      METRICS_EXTENSION,
      TRACE_EXTENSION
    ])
  ],
  maxFrameBytes: options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
  maxJsonDepth: options.maxJsonDepth ?? DEFAULT_MAX_JSON_DEPTH,
  handshakeTimeout: Duration.decode(options.handshakeTimeout ?? "30 seconds"),
  idleTimeout: Duration.decode(options.idleTimeout ?? "5 minutes"),
  sessionLease: Duration.decode(options.sessionLease ?? "1 hour"),
  refreshDeadline: Duration.decode(options.refreshDeadline ?? "30 seconds"),
  heartbeatIntervalSeconds: options.heartbeatIntervalSeconds ?? 30,
  allowExperimentalExtensions: options.allowExperimentalExtensions ?? false,
  heartbeatRecovery: options.heartbeatRecovery ?? "fail",
  idempotencyHorizon: Duration.decode(options.idempotencyHorizon ?? "24 hours"),
  cancelDeadline: Duration.decode(options.cancelDeadline ?? "5 seconds"),
  interruptExpiry: Duration.decode(options.interruptExpiry ?? "1 hour"),
  artifactRetention: options.artifactRetention ?? { defaultSeconds: 86_400, maxSeconds: 7 * 86_400 },
  maxArtifactBytes: options.maxArtifactBytes ?? 1024 ** 3,
  artifactQuotaBytes: options.artifactQuotaBytes ?? 10 * 1024 ** 3,
  artifactSweepInterval: Duration.decode(options.artifactSweepInterval ?? "60 seconds"),
  scheduleMinInterval: Duration.decode(options.scheduleMinInterval ?? "60 seconds"),
  maxSchedulesPerPrincipal: options.maxSchedulesPerPrincipal ?? 1000,
  maxOutboundBytes: options.maxOutboundBytes ?? DEFAULT_LIMITS.maxOutboundBytes,
  maxOutboundEnvelopes: options.maxOutboundEnvelopes ?? DEFAULT_LIMITS.maxOutboundEnvelopes,
  backpressureTimeout: Duration.decode(
    options.backpressureTimeout ?? Duration.seconds(DEFAULT_LIMITS.backpressureTimeoutSeconds)
  ),
  stalledReaderTimeout: Duration.decode(
    options.stalledReaderTimeout ?? Duration.seconds(DEFAULT_LIMITS.stalledReaderTimeoutSeconds)
  ),
  maxSessions: options.maxSessions ?? DEFAULT_LIMITS.maxSessions,
  maxJobsPerSession: options.maxJobsPerSession ?? DEFAULT_LIMITS.maxJobsPerSession,
  maxPendingHuman: options.maxPendingHuman ?? DEFAULT_LIMITS.maxPendingHuman,
  maxSubscriptionsPerSession: options.maxSubscriptionsPerSession ?? DEFAULT_LIMITS.maxSubscriptionsPerSession,
  subscriptionQueue: options.subscriptionQueue ?? DEFAULT_LIMITS.subscriptionQueue,
  permissionRequestTimeout: Duration.decode(options.permissionRequestTimeout ?? "5 minutes"),
  defaultLeaseDuration: Duration.decode(options.defaultLeaseDuration ?? "5 minutes"),
  maxLeaseDuration: Duration.decode(options.maxLeaseDuration ?? "1 hour"),
  defaultTrustLevel: options.defaultTrustLevel ?? "trusted",
  remotes: options.remotes ?? new Map(),
  resumeWindow: Duration.decode(options.resumeWindow ?? "15 minutes"),
  replayRetention: replayRetentionOf(options),
  logRetention: logRetentionOf(options),
  instanceHeartbeat: Duration.decode(options.instanceHeartbeat ?? "10 seconds"),
  instanceLapse: Duration.decode(options.instanceLapse ?? "30 seconds")
})

export const layer = (options: Options = {}): Layer.Layer<RuntimeConfig> =>
  Layer.succeed(RuntimeConfig, resolve(options))

/** The capabilities this build supports: only what is implemented is advertised (§7). */
export const supportedCapabilities = (
  settings: Settings,
  options: { readonly anonymous: boolean; readonly binary?: boolean | undefined }
): Capabilities => ({
  // jobs are recorded in the event log and survive a dropped connection (§10.1)
  durable_jobs: true,
  // interrupts block the job on a human.input.request (§10.5)
  interrupt: true,
  // tools ask humans (input and choice requests, §12); sent only to sessions that negotiated it
  human_input: true,
  // tools stream through ToolContext.stream; binary chunks go base64 in the envelope (§11, §11.3)
  streaming: true,
  binary_streams: true,
  // job.schedule: at / after / every (RRULE), durable across restarts (§10.6, scheduler/Scheduler.ts)
  scheduled_jobs: true,
  // subscribe / unsubscribe with filters, observer grants, backfill and its marker (§13, events/Subscriptions.ts)
  subscriptions: true,
  anonymous: options.anonymous,
  // agent.delegate runs a hosted tool as a job; agent.handoff is verified against this identity and moves running
  // jobs' work to a configured remote or takes it in (§14, delegation/)
  agent_delegation: true,
  agent_handoff: true,
  // workflow.start runs inline steps as child jobs (§6.3, workflows/)
  workflows: true,
  heartbeat_interval_seconds: settings.heartbeatIntervalSeconds,
  heartbeat_recovery: settings.heartbeatRecovery,
  // sidecar frames need a transport with native binary frames (WebSocket); stdio is base64 only (§11.3, §22)
  binary_encoding: options.binary === true ? ["base64", "sidecar"] : ["base64"],
  // artifact.put/fetch/release with the retention policy of §16.3
  artifacts: true,
  artifact_retention: {
    default_seconds: settings.artifactRetention.defaultSeconds,
    max_seconds: settings.artifactRetention.maxSeconds
  },
  extensions: settings.extensions
})
