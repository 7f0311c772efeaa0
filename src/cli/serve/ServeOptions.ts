/**
 * The flags of `arcp serve` (each also read from its ARCP_* environment variable), and the parsing of the
 * repeatable ones the command turns into maps.
 */
import { Options } from "@effect/cli"
import { Config, Effect } from "effect"
import { DEFAULT_MAX_JSON_DEPTH } from "../../protocol/JsonDepth.js"
import * as Trust from "../../runtime/permissions/Trust.js"
import { DEFAULT_LIMITS } from "../../runtime/RuntimeConfig.js"
import { usage } from "../Failure.js"
import * as Settings from "../Settings.js"
import * as ServeAuth from "./ServeAuth.js"
import * as ServeDashboard from "./ServeDashboard.js"
import { validPort } from "./ServeFailure.js"
import * as ServeTransports from "./ServeTransports.js"

export const options = {
  ...ServeTransports.options,
  ...ServeAuth.options,
  ...ServeDashboard.options,
  host: Settings.text("host", "ARCP_HOST", "127.0.0.1", "address the WebSocket and HTTP/2 servers listen on"),
  port: validPort(Settings.integer("port", "ARCP_PORT", 7777, "WebSocket port; 0 picks a free one"), "--port"),
  db: Settings.text("db", "ARCP_DB", "arcp.db", "SQLite file of the event log; :memory: keeps nothing"),
  store: Settings.optionalText(
    "store",
    "ARCP_STORE",
    "where the runtime keeps everything: postgres://USER:PASSWORD@HOST:PORT/DB (PostgreSQL, shareable by several runtimes; artifact bytes in --artifacts-dir, default ./arcp.artifacts) or an SQLite file as --db (default --db)"
  ),
  durability: Settings.withEnv(
    Options.choice("durability", ["normal", "full"]),
    Config.literal("normal", "full")("ARCP_DURABILITY")
  ).pipe(
    Options.withDefault("normal" as const),
    Options.withDescription(
      "normal: a commit survives a killed process, the last ones may be lost on power failure (WAL, synchronous=NORMAL); full: an fsync per group commit; either way an event is logged before it is sent (default normal) [ARCP_DURABILITY]"
    )
  ),
  bearer: Options.text("bearer").pipe(
    Options.repeated,
    Options.withDescription(
      "TOKEN=PRINCIPAL[:TRUST]: accept bearer TOKEN for PRINCIPAL, at trust level TRUST (untrusted, constrained, trusted, privileged; default --default-trust); repeatable (default none; with no scheme configured a development token is minted) [ARCP_BEARER, comma-separated]"
    )
  ),
  observer: Options.text("observer").pipe(
    Options.repeated,
    Options.withDescription(
      "PRINCIPAL[=OWNER,OWNER]: let PRINCIPAL subscribe to (observe, read-only) the sessions of every principal, or of those OWNERs; a JWT grants the same with its arcp_observe claim (\"*\" or a list); repeatable (default: each principal observes only its own sessions) [ARCP_OBSERVERS, semicolon-separated]"
    )
  ),
  jwtSecret: Settings.optionalText(
    "jwt-secret",
    "ARCP_JWT_SECRET",
    "HS256/384/512 secret verifying signed_jwt (default none)"
  ),
  jwtPublicKey: Settings.optionalText(
    "jwt-public-key",
    "ARCP_JWT_PUBLIC_KEY",
    "PEM public key or JWKS file verifying signed_jwt (default none)"
  ),
  jwtAudience: Settings.text(
    "jwt-audience",
    "ARCP_JWT_AUDIENCE",
    "arcp://runtime",
    "the runtime identity a JWT's aud must equal"
  ),
  jwtRequireNonce: Options.boolean("jwt-require-nonce").pipe(
    Options.withDescription("challenge every signed_jwt session to sign a fresh nonce (default off; no env var)")
  ),
  allowAnonymous: Settings.withEnv(Options.boolean("allow-anonymous"), Config.boolean("ARCP_ALLOW_ANONYMOUS")).pipe(
    Options.withDescription(
      "allow scheme none when the client negotiates capabilities.anonymous (default off) [ARCP_ALLOW_ANONYMOUS]"
    )
  ),
  maxFrameBytes: Settings.integer(
    "max-frame-bytes",
    "ARCP_MAX_FRAME_BYTES",
    1024 * 1024,
    "largest inbound frame in bytes; larger ones are nacked"
  ),
  maxJsonDepth: Settings.integer(
    "max-json-depth",
    "ARCP_MAX_JSON_DEPTH",
    DEFAULT_MAX_JSON_DEPTH,
    "deepest JSON nesting accepted in a frame (the envelope is level 1); deeper frames are nacked INVALID_ARGUMENT"
  ),
  idleTimeout: Settings.integer(
    "idle-timeout",
    "ARCP_IDLE_TIMEOUT",
    300,
    "seconds without traffic before a session is evicted (§8.5)"
  ),
  resumeWindow: Settings.integer(
    "resume-window",
    "ARCP_RESUME_WINDOW",
    900,
    "seconds a session whose connection went may be taken back with its session_id and resumed (§9, §19); 0: sessions end with their connection"
  ),
  replayRetention: Settings.integer(
    "replay-retention",
    "ARCP_REPLAY_RETENTION",
    86_400,
    "seconds back a resume may replay; an older after_message_id is answered DATA_LOSS (§19)"
  ),
  logRetention: Settings.integer(
    "log-retention",
    "ARCP_LOG_RETENTION",
    86_400,
    "seconds the event log keeps events, deduplicated message ids and ended jobs before deleting them (never less than --replay-retention); 0: keep everything"
  ),
  // several runtimes on one store (issue 17): the instance lease, and the takeover of gone runtimes
  instanceHeartbeat: Settings.integer(
    "instance-heartbeat",
    "ARCP_INSTANCE_HEARTBEAT",
    10,
    "seconds between renewals of this runtime's lease in the store and sweeps for runtimes whose lease lapsed (their jobs and sessions are taken over); 0: no lease, no sweep"
  ),
  instanceLapse: Settings.integer(
    "instance-lapse",
    "ARCP_INSTANCE_LAPSE",
    30,
    "seconds past its last heartbeat after which a runtime counts as gone, wherever it runs (at least twice --instance-heartbeat)"
  ),
  sessionLease: Settings.integer(
    "session-lease",
    "ARCP_SESSION_LEASE",
    3600,
    "seconds a session's lease runs; --refresh-deadline before its end the client must re-authenticate (§8.4)"
  ),
  refreshDeadline: Settings.integer(
    "refresh-deadline",
    "ARCP_REFRESH_DEADLINE",
    30,
    "seconds a client has to answer session.refresh before it is evicted UNAUTHENTICATED; less than --session-lease (§8.4)"
  ),
  fingerprint: Settings.withEnv(Options.text("fingerprint"), Config.string("ARCP_FINGERPRINT")).pipe(
    Options.optional,
    Options.withDescription(
      "runtime fingerprint sent in session.accepted (§8.3) (default sha256 of host name and --db path) [ARCP_FINGERPRINT]"
    )
  ),
  heartbeatInterval: Settings.integer(
    "heartbeat-interval",
    "ARCP_HEARTBEAT_INTERVAL",
    30,
    "seconds between job heartbeats offered to clients (§10.3)"
  ),
  heartbeatRecovery: Settings.withEnv(
    Options.choice("heartbeat-recovery", ["fail", "block"]),
    Config.literal("fail", "block")("ARCP_HEARTBEAT_RECOVERY")
  ).pipe(
    Options.withDefault("fail" as const),
    Options.withDescription(
      "after 2 missed liveness deadlines: fail the job (HEARTBEAT_LOST) or block it (§10.3) (default fail) [ARCP_HEARTBEAT_RECOVERY]"
    )
  ),
  idempotencyHorizon: Settings.integer(
    "idempotency-horizon",
    "ARCP_IDEMPOTENCY_HORIZON",
    86_400,
    "seconds an idempotency_key is remembered (§6.4)"
  ),
  cancelDeadline: Settings.integer(
    "cancel-deadline-ms",
    "ARCP_CANCEL_DEADLINE_MS",
    5000,
    "ms a cancelled job has to stop when cancel names no deadline_ms, before it ends ABORTED (§10.4)"
  ),
  mcp: Options.text("mcp").pipe(
    Options.repeated,
    Options.withDescription(
      "NAME=COMMAND... (a stdio MCP server) or NAME=https://... (streamable HTTP): offer its tools as NAME.tool; repeatable (default none; no env var)"
    )
  ),
  artifactsDir: Settings.optionalText(
    "artifacts-dir",
    "ARCP_ARTIFACTS_DIR",
    "directory of artifact bytes (default <db name>.artifacts beside --db; unused with --db :memory:)"
  ),
  artifactTtl: Settings.integer(
    "artifact-ttl",
    "ARCP_ARTIFACT_TTL",
    86_400,
    "seconds an artifact lives when its put names no ttl_seconds (artifact_retention.default_seconds, §16.3)"
  ),
  artifactMaxTtl: Settings.integer(
    "artifact-max-ttl",
    "ARCP_ARTIFACT_MAX_TTL",
    604_800,
    "longest ttl_seconds a put may ask for (artifact_retention.max_seconds, §16.3)"
  ),
  maxArtifactBytes: Settings.integer(
    "max-artifact-bytes",
    "ARCP_MAX_ARTIFACT_BYTES",
    1024 ** 3,
    "largest artifact accepted; larger puts get RESOURCE_EXHAUSTED"
  ),
  artifactQuotaBytes: Settings.integer(
    "artifact-quota-bytes",
    "ARCP_ARTIFACT_QUOTA_BYTES",
    10 * 1024 ** 3,
    "artifact bytes one principal may hold; past it puts get RESOURCE_EXHAUSTED"
  ),
  maxOutboundBytes: Settings.integer(
    "max-outbound-bytes",
    "ARCP_MAX_OUTBOUND_BYTES",
    DEFAULT_LIMITS.maxOutboundBytes,
    "bytes a connection may hold for its client (queued plus unread by the socket); a job's progress, log and stream calls then wait"
  ),
  maxOutboundEnvelopes: Settings.integer(
    "max-outbound-envelopes",
    "ARCP_MAX_OUTBOUND_ENVELOPES",
    DEFAULT_LIMITS.maxOutboundEnvelopes,
    "envelopes a connection may queue for its client; a job's progress, log and stream calls then wait"
  ),
  backpressureTimeout: Settings.integer(
    "backpressure-timeout",
    "ARCP_BACKPRESSURE_TIMEOUT",
    DEFAULT_LIMITS.backpressureTimeoutSeconds,
    "seconds a stream chunk waits for room before the stream ends BACKPRESSURE_OVERFLOW (§11.2)"
  ),
  stalledReaderTimeout: Settings.integer(
    "stalled-reader-timeout",
    "ARCP_STALLED_READER_TIMEOUT",
    DEFAULT_LIMITS.stalledReaderTimeoutSeconds,
    "seconds a session may read nothing while its buffer is full before it is evicted BACKPRESSURE_OVERFLOW (§8.5)"
  ),
  maxSessions: Settings.integer(
    "max-sessions",
    "ARCP_MAX_SESSIONS",
    DEFAULT_LIMITS.maxSessions,
    "open sessions per runtime; more are rejected RESOURCE_EXHAUSTED"
  ),
  maxJobsPerSession: Settings.integer(
    "max-jobs-per-session",
    "ARCP_MAX_JOBS_PER_SESSION",
    DEFAULT_LIMITS.maxJobsPerSession,
    "running jobs per session; more invokes are refused RESOURCE_EXHAUSTED"
  ),
  maxPendingHuman: Settings.integer(
    "max-pending-human",
    "ARCP_MAX_PENDING_HUMAN",
    DEFAULT_LIMITS.maxPendingHuman,
    "pending human input requests per session; more are refused RESOURCE_EXHAUSTED"
  ),
  defaultTrust: Settings.withEnv(
    Options.choice("default-trust", Trust.levels),
    Config.literal(...Trust.levels)("ARCP_DEFAULT_TRUST")
  ).pipe(
    Options.withDefault("trusted" as const),
    Options.withDescription(
      "trust level of sessions whose credentials name none; anonymous sessions are untrusted (§15.3) (default trusted) [ARCP_DEFAULT_TRUST]"
    )
  ),
  permissionTimeout: Settings.integer(
    "permission-timeout",
    "ARCP_PERMISSION_TIMEOUT",
    300,
    "seconds a permission.request waits for grant or deny before the tool's ask fails PERMISSION_DENIED (§15.4)"
  ),
  maxLease: Settings.integer(
    "max-lease",
    "ARCP_MAX_LEASE",
    3600,
    "seconds a permission lease can run, on grant or lease.refresh (§15.5)"
  ),
  noDemoTools: Options.boolean("no-demo-tools").pipe(
    Options.withDescription(
      "leave out the demo tools echo, ticker, stream, sleep, stubborn, fail, flaky, guarded, ask, choose, make_artifact, delegate (default off; no env var)"
    )
  ),
  remotes: Settings.optionalText(
    "remotes",
    "ARCP_REMOTES",
    "JSON file naming the peer runtimes tools may delegate to (§14): {\"NAME\": {\"url\", \"token\"?, \"fingerprint\"?}} (default none)"
  ),
  otlpEndpoint: Options.text("otlp-endpoint").pipe(
    Options.optional,
    Options.withDescription(
      "export spans over OTLP/HTTP to this collector (e.g. http://127.0.0.1:4318; /v1/traces is added) (default off; the standard OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT also turn it on)"
    )
  )
}

export const parseBearer = (entries: ReadonlyArray<string>) =>
  Effect.forEach(entries, (entry) => {
    const eq = entry.indexOf("=")
    return eq <= 0 || eq === entry.length - 1
      ? Effect.fail(usage(`--bearer expects TOKEN=PRINCIPAL, got "${entry}"`))
      : Effect.succeed([entry.slice(0, eq), entry.slice(eq + 1)] as const)
  })

/** `PRINCIPAL[:TRUST]`: a trailing `:level` naming a trust level is the principal's trust; otherwise part of its name. */
export const splitTrust = (principal: string): readonly [string, Trust.TrustLevel | undefined] => {
  const colon = principal.lastIndexOf(":")
  const level = colon > 0 ? Trust.parse(principal.slice(colon + 1)) : undefined
  return level === undefined ? [principal, undefined] : [principal.slice(0, colon), level]
}
