/**
 * The client's public shapes: the `Session` a connection yields, the options of `connect` and of each
 * request, the handles of jobs and schedules, and the client's own error. `Client` builds them; this
 * module only names them (a session's surface is read here without its machinery).
 */
import { Context, type Duration, type Effect, Schema, type Scope, type Stream } from "effect"
import type { Capabilities } from "../protocol/Capabilities.js"
import type { HeaderOptions } from "../protocol/Envelope.js"
import type { ArcpError } from "../protocol/Errors.js"
import type { ListRequest, ToolDescription } from "../protocol/extensions/ToolDiscovery.js"
import type { JobId, MessageId, SessionId } from "../protocol/Ids.js"
import type { Decoded, MessageType, PayloadOf } from "../protocol/Message.js"
import type { ArtifactRef } from "../protocol/messages/Artifacts.js"
import type { TrustLevel } from "../protocol/messages/Common.js"
import type { RuntimeIdentity } from "../protocol/messages/Session.js"
import type { ClientTls } from "../transport/Tls.js"
import type { Credentials } from "./Credentials.js"
import type { ReconnectPolicy } from "./Reconnect.js"
import type * as Answers from "./session/Answers.js"
import type * as ClientArtifacts from "./session/ClientArtifacts.js"
import type * as Subscription from "./session/Subscription.js"

/** A client-side failure: the session ended, the runtime is not the pinned one, or an answer never came. */
export class ClientError extends Schema.TaggedError<ClientError>()("ClientError", {
  reason: Schema.Literal("Closed", "Evicted", "FingerprintMismatch", "Timeout", "Transport", "DataLoss"),
  message: Schema.String,
  code: Schema.optional(Schema.String)
}) {}

export interface ConnectOptions {
  readonly credentials: Credentials
  readonly client?: {
    readonly kind: string
    readonly version: string
    readonly fingerprint?: string
    readonly principal?: string
  } | undefined
  readonly capabilities?: Capabilities | undefined
  /** Refuse the session unless the runtime's fingerprint equals this (§8.3). */
  readonly pinFingerprint?: string | undefined
  /** How long to wait for the handshake and for replies (default 30 s). */
  readonly timeout?: Duration.DurationInput | undefined
  /**
   * Reconnecting when the transport drops (§18.3, §19): backoff with jitter, then the same session
   * taken back and resumed after the last message seen. On by default when the client can dial again
   * (a URL target); `false` turns it off. A resume the runtime cannot serve ends the session with a
   * `ClientError` of reason `DataLoss` (code DATA_LOSS).
   */
  readonly reconnect?: ReconnectPolicy | false | undefined
  /** For `wss://` and `https://` URLs: CAs to trust, and a client certificate and key (mutual TLS, scheme `mtls`). */
  readonly tls?: ClientTls | undefined
}

/** A job started by `invoke`. */
export interface JobHandle {
  readonly jobId: JobId
  /** The job's events after `job.accepted`, ending with (and including) its terminal event. Consume it once. */
  readonly events: Stream.Stream<Decoded>
  /** The result value; a `tool.error`/`job.failed` fails with its ArcpError, `job.cancelled` with CANCELLED. */
  readonly outcome: Effect.Effect<unknown, ArcpError | ClientError>
  /** Asks the runtime to cancel the job: the `cancel.accepted` or `cancel.refused` answer (§10.4). */
  readonly cancel: (
    options?: { readonly reason?: string; readonly deadline_ms?: number }
  ) => Effect.Effect<Decoded, ArcpError | ClientError>
  /** Asks the job to pause for guidance (§10.5); it answers with a human.input.request on `events`. */
  readonly interrupt: (prompt?: string) => Effect.Effect<void, ArcpError | ClientError>
}

/** How a client retries an invoke (§18.3); see `InvokeOptions.retry`. */
export interface ClientRetry {
  /** Most attempts in all, the first included. */
  readonly attempts: number
  /** The first delay (default 200 ms), doubled each time; an error's details.retry_after_seconds is a floor. */
  readonly backoff?: Duration.DurationInput
}

export interface InvokeOptions {
  /**
   * Retries what is retryable: an invoke the runtime refused with a retryable code (UNAVAILABLE,
   * RESOURCE_EXHAUSTED...) is sent again with the same `idempotency_key` (one is minted when none is
   * given), so a retry after a lost answer never runs the intent twice; a job that ends with a
   * retryable error is invoked again under `<key>#retry-<n>`, a key of its own (the runtime answers a
   * repeated key with the earlier outcome). `outcome` is the last attempt's; `jobId` and `events`
   * are the first job's.
   */
  readonly retry?: ClientRetry
  readonly idempotency_key?: string
  readonly priority?: "low" | "normal" | "high" | "critical"
  readonly trace_id?: string
}

/** What `delegate` sends besides the target and task. */
export interface DelegateOptions extends Omit<InvokeOptions, "retry"> {
  readonly arguments?: Record<string, unknown>
  readonly context?: PayloadOf<"agent.delegate">["context"]
}

/** What `startWorkflow` sends besides the workflow's name. */
export interface WorkflowOptions extends Omit<InvokeOptions, "retry"> {
  readonly inputs?: Record<string, unknown>
  readonly steps?: PayloadOf<"workflow.start">["steps"]
}

/** When a schedule fires (§10.6): exactly one of an RFC 3339 `at`, `after` seconds, or an RFC 5545 `every`. */
export type ScheduleWhen = PayloadOf<"job.schedule">["when"]

export interface ScheduleOptions {
  /** Firings missed while the runtime was down: one runs at its start (`run_once`, the default) or they are skipped. */
  readonly missed?: "run_once" | "skip"
  readonly idempotency_key?: string
  readonly trace_id?: string
}

/** A schedule accepted by the runtime. */
export interface ScheduleHandle {
  /** The schedule's id (`sch_...`), as `job.accepted` named it; `cancel` targets it. */
  readonly scheduleId: JobId
  /** The id of the `job.schedule` message: every event of every firing names it as its `causation_id`. */
  readonly commandId: MessageId
  /** The events of its firings delivered to this session (each firing a job: job.accepted .. its terminal). */
  readonly firings: Stream.Stream<Decoded>
  /** Cancels the schedule (no more firings): the `cancel.accepted` or `cancel.refused` answer. */
  readonly cancel: Effect.Effect<Decoded, ArcpError | ClientError>
}

/** An open session; it answers the runtime's human and permission requests through `Answers`. */
export interface Session extends Answers.Answers<ClientError> {
  readonly id: SessionId
  readonly runtime: RuntimeIdentity
  readonly capabilities: Capabilities
  /** The session's trust level as the runtime reported it in session.accepted (§15.3), when it did. */
  readonly trustLevel: TrustLevel | undefined
  /**
   * Every message the runtime sends to this session from this point, subscribed now (in the
   * caller's scope); subscribe before sending whatever the messages answer.
   */
  readonly messages: Effect.Effect<Stream.Stream<Decoded>, never, Scope.Scope>
  /**
   * Observes events (§13) matching `filter` — of this principal's sessions, or wider when the
   * operator granted it: with `since`, the backfill after that message, a
   * `subscription.backfill_complete` marker (`Subscription.isBackfillComplete`), then live events,
   * each the original envelope. Fails PERMISSION_DENIED for a filter beyond what may be observed,
   * and with the reason's code when the runtime closes it (BACKPRESSURE_OVERFLOW, eviction); with the
   * session's `ClientError` when the session ends (DataLoss, Evicted...; a `close()` just ends it).
   * It survives a reconnect: resumed, it subscribes again after the last event it handed on.
   * Stopping the stream unsubscribes.
   */
  readonly subscribe: (
    filter: Subscription.SubscriptionFilter,
    since?: Subscription.SubscribeSince
  ) => Stream.Stream<Decoded, ArcpError | ClientError>
  /** Sends a message; returns its id. */
  readonly send: <T extends MessageType>(
    type: T,
    payload: PayloadOf<T>,
    options?: HeaderOptions
  ) => Effect.Effect<MessageId, ClientError>
  /** Sends a message and waits for the first reply correlated to it; a `nack` fails with its `ArcpError`. */
  readonly request: <T extends MessageType>(
    type: T,
    payload: PayloadOf<T>,
    options?: HeaderOptions
  ) => Effect.Effect<Decoded, ArcpError | ClientError>
  /** Invokes a tool as a job (§6.3); fails with the nack's ArcpError when the runtime does not accept it. */
  readonly invoke: (
    tool: string,
    args?: Record<string, unknown>,
    options?: InvokeOptions
  ) => Effect.Effect<JobHandle, ArcpError | ClientError, Scope.Scope>
  /**
   * Delegates `task` to `target` (a tool or agent the runtime hosts) with `agent.delegate` (§14): a job
   * like an invoke's, ending job.completed / job.failed / job.cancelled. `arguments` are what the target
   * runs with (default `{task}`); `context.trace_id` defaults to the envelope's (R17.1-3).
   */
  readonly delegate: (
    target: string,
    task: string,
    options?: DelegateOptions
  ) => Effect.Effect<JobHandle, ArcpError | ClientError, Scope.Scope>
  /**
   * Starts a workflow (`workflow.start`): a parent job whose steps run as child jobs; it ends with
   * `workflow.complete` then job.completed `{outputs}`, or job.failed naming the failed step (docs/decisions.md).
   */
  readonly startWorkflow: (
    workflow: string,
    options?: WorkflowOptions
  ) => Effect.Effect<JobHandle, ArcpError | ClientError, Scope.Scope>
  /**
   * Hands a job or a session's running jobs over (§14). `toRuntime` names this runtime (the named live
   * jobs of this principal move to this session) or one of its configured remotes by fingerprint (the
   * running jobs continue there from their last checkpoint, their outcome still coming back here); any
   * other identity is refused PERMISSION_DENIED.
   */
  readonly handoff: (
    toRuntime: PayloadOf<"agent.handoff">["to_runtime"],
    options?: Omit<PayloadOf<"agent.handoff">, "to_runtime">
  ) => Effect.Effect<void, ArcpError | ClientError>
  /**
   * Hands a running job's work to this runtime (`agent.handoff` carrying `job`, our addition to §14):
   * `toRuntime` must be this runtime's identity. The runtime runs it as a job of its own, from the
   * checkpoint when the tool can resume; tracked like `delegate`.
   */
  readonly handOver: (
    toRuntime: PayloadOf<"agent.handoff">["to_runtime"],
    job: NonNullable<PayloadOf<"agent.handoff">["job"]>,
    options?: Omit<InvokeOptions, "retry"> & { readonly job_id?: string; readonly reason?: string }
  ) => Effect.Effect<JobHandle, ArcpError | ClientError, Scope.Scope>
  /**
   * Schedules `tool` with `args` (§10.6); fails with the nack's ArcpError (INVALID_ARGUMENT with the reason)
   * when the runtime refuses the schedule. Its firings are watched for the life of the scope.
   */
  readonly schedule: (
    tool: string,
    args: Record<string, unknown> | undefined,
    when: ScheduleWhen,
    options?: ScheduleOptions
  ) => Effect.Effect<ScheduleHandle, ArcpError | ClientError, Scope.Scope>
  /**
   * The principal's active schedules (the `arcpx.arcp.schedules.v1.list` extension, which the session
   * must have negotiated in `capabilities.extensions`): the `schedules` of the answer.
   */
  readonly listSchedules: Effect.Effect<ReadonlyArray<unknown>, ArcpError | ClientError>
  /**
   * The tools this principal may invoke (extension `arcpx.arcp.tools.v1`, offered by
   * default); UNIMPLEMENTED when the session did not negotiate the extension.
   */
  readonly tools: (options?: ListRequest) => Effect.Effect<ReadonlyArray<ToolDescription>, ArcpError | ClientError>
  /**
   * Sends an extension message (§21): `type` an extension type (`arcpx.<vendor>.<name>.v<n>[.<sub>]` or
   * reverse-DNS), `payload` a JSON object. With `optional: true` a runtime that did not negotiate the type drops
   * it silently (§21.3); otherwise it answers `nack` UNIMPLEMENTED. Returns the message id.
   */
  readonly sendExtension: (
    type: string,
    payload: { readonly [key: string]: unknown },
    options?: ExtensionOptions
  ) => Effect.Effect<MessageId, ArcpError | ClientError>
  /** Sends an extension message and waits for its first correlated reply; a `nack` fails with its ArcpError. */
  readonly requestExtension: (
    type: string,
    payload: { readonly [key: string]: unknown },
    options?: ExtensionOptions
  ) => Effect.Effect<Decoded, ArcpError | ClientError>
  /** Round trip to the runtime. */
  readonly ping: Effect.Effect<Duration.Duration, ArcpError | ClientError>
  /**
   * Uploads an artifact (§16.2): as sidecar frames where the transport and runtime offer them,
   * else inline base64 (one frame). The ref is checked against the bytes sent (DATA_LOSS otherwise).
   */
  readonly putArtifact: <E = never>(
    data: Uint8Array | Stream.Stream<Uint8Array, E>,
    options: ClientArtifacts.PutArtifactOptions
  ) => Effect.Effect<ArtifactRef, ArcpError | ClientError | E>
  /** The bytes of an artifact, fetched when the stream runs; NOT_FOUND when it is gone or not yours (§16.3). */
  readonly fetchArtifact: (
    artifact: ArtifactRef | string,
    options?: ClientArtifacts.FetchArtifactOptions
  ) => Stream.Stream<Uint8Array, ArcpError | ClientError>
  /** Closes the session gracefully (§9). */
  readonly close: (
    options?: { readonly reason?: string; readonly dispose_jobs?: "cancel" | "detach" }
  ) => Effect.Effect<void>
  /** Completes when the session ends, with the reason (eviction or close). */
  readonly ended: Effect.Effect<ClientError>
}

/** Header options of an extension message; `optional` marks it droppable by a runtime that does not know it (§21.3). */
export interface ExtensionOptions extends HeaderOptions {
  readonly optional?: boolean | undefined
}

/** The current session, for Effect programs that take it from context. */
export class ArcpSession extends Context.Tag("arcp/Session")<ArcpSession, Session>() {}
