/**
 * The client: `connect` runs the handshake over any `Connection` (answering
 * challenges, pinning the runtime fingerprint, §8.1–§8.3) and yields a scoped
 * `Session` whose methods are Effects and Streams with typed errors.
 */
import {
  Clock,
  Context,
  Deferred,
  Duration,
  Effect,
  Either,
  ExecutionStrategy,
  Exit,
  Fiber,
  Mailbox,
  Option,
  PubSub,
  Ref,
  Schema,
  Scope,
  Stream
} from "effect"
import type { Capabilities } from "../protocol/Capabilities.js"
import { type HeaderOptions, make as makeEnvelope } from "../protocol/Envelope.js"
import { ArcpError, type ErrorPayload } from "../protocol/Errors.js"
import { isExtensionType } from "../protocol/Extensions.js"
import {
  LIST_TYPE,
  LISTED_TYPE,
  ListedPayload,
  type ListRequest,
  type ToolDescription,
  TOOLS_EXTENSION
} from "../protocol/extensions/ToolDiscovery.js"
import { JobId, type MessageId, type SessionId, TraceId, ulid } from "../protocol/Ids.js"
import {
  type Decoded,
  decodeJson,
  encodeUnchecked,
  isCore,
  isMessageType,
  type Message,
  type MessageType,
  type PayloadOf
} from "../protocol/Message.js"
import type { ArtifactRef } from "../protocol/messages/Artifacts.js"
import type { TrustLevel } from "../protocol/messages/Common.js"
import { SCHEDULES_LIST } from "../protocol/messages/Execution.js"
import type { RuntimeIdentity } from "../protocol/messages/Session.js"
import { decode as decodeSidecar } from "../protocol/Sidecar.js"
import { makeInbox } from "../transport/SidecarTransfers.js"
import type { ClientTls } from "../transport/Tls.js"
import type { Connection } from "../transport/Transport.js"
import { VERSION } from "../Version.js"
import * as Answers from "./Answers.js"
import * as ClientArtifacts from "./ClientArtifacts.js"
import { answerChallenge, type Credentials, openToken } from "./Credentials.js"
import * as JobRouter from "./JobRouter.js"
import { DEFAULT_POLICY, delayBefore, type ReconnectPolicy } from "./Reconnect.js"
import * as StreamChunks from "./StreamChunks.js"
import * as Subscription from "./Subscription.js"

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

/** The terminal event types of a job (§6.3). */
export const terminalTypes = JobRouter.terminalTypes

/** The bytes of a binary `stream.chunk`, however it travelled (base64 or sidecar frames, §11.3). */
export const chunkBytes = StreamChunks.chunkBytes

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

/** The envelope of an extension message, refusing a core or unnamespaced type before anything is sent. */
const extensionEnvelope = (
  type: string,
  payload: { readonly [key: string]: unknown },
  options: ExtensionOptions = {}
): Effect.Effect<Decoded, ArcpError> => {
  const { optional, ...header } = options
  return isMessageType(type)
    ? Effect.fail(ArcpError.of("INVALID_ARGUMENT", `"${type}" is a core message type: use send or request`))
    : !isExtensionType(type)
    ? Effect.fail(ArcpError.of("INVALID_ARGUMENT", `"${type}" is not an extension type (arcpx.<vendor>.<name>.v<n>)`))
    : makeEnvelope(
      type,
      payload,
      optional === true ? { ...header, extensions: { ...header.extensions, optional } } : header
    )
}

/** The current session, for Effect programs that take it from context. */
export class ArcpSession extends Context.Tag("arcp/Session")<ArcpSession, Session>() {}

const errorOf = (payload: ErrorPayload) => ArcpError.fromPayload(payload)
const decodeListed = Schema.decodeUnknown(ListedPayload)

/**
 * Runs the handshake on `connection` and returns the open session (closed with the scope). With
 * `redial`, a dropped transport is replaced by a new one and the session resumed (`options.reconnect`).
 */
export const connect = (
  connection: Connection,
  options: ConnectOptions,
  redial?: Effect.Effect<Connection, unknown, Scope.Scope>
): Effect.Effect<Session, ArcpError | ClientError, Scope.Scope> =>
  Effect.gen(function*() {
    // the transport in use: replaced when a dropped one is redialled (see the supervisor below)
    let current = connection
    // while reconnecting, application sends wait; the handshake of the new transport goes past
    const up = yield* Effect.makeLatch(true)
    let closing = false
    // false once the runtime ended the session for good (an eviction that does not allow a resume)
    let resumable = true
    let lastSeen: MessageId | undefined
    const transportError = (e: { readonly message: string }) =>
      new ClientError({ reason: "Transport", message: e.message })
    /** Sends a frame on the current transport, once it is up. */
    const sendFrame = (frame: string | Uint8Array) =>
      Effect.zipRight(up.await, Effect.suspend(() => current.send(frame))).pipe(Effect.mapError(transportError))
    /** Sends a frame at once, reconnecting or not (the new transport's own handshake). */
    const sendNow = (frame: string) => Effect.suspend(() => current.send(frame)).pipe(Effect.mapError(transportError))
    // what the artifact code sees: whichever transport is current
    const live: Connection = {
      get label() {
        return current.label
      },
      get binary() {
        return current.binary
      },
      incoming: Stream.suspend(() => current.incoming),
      send: (frame) => Effect.zipRight(up.await, Effect.suspend(() => current.send(frame))),
      close: Effect.suspend(() => current.close),
      drain: Effect.suspend(() => current.drain ?? Effect.void)
    }
    const timeout = Duration.decode(options.timeout ?? "30 seconds")
    // the session's messages, with a `Resumed` mark where a reconnect resumed it (seen only by subscriptions)
    const inbound = yield* PubSub.unbounded<Decoded | Subscription.Resumed>()
    // the id of the `resume` sent after a reconnect: its ack is where the mark goes, in message order
    let resumeId: string | undefined
    // requests awaiting their first correlated answer, with their deadlines (see the sweeper below)
    const pending = new Map<
      string,
      { readonly answer: Deferred.Deferred<Decoded, ArcpError | ClientError>; readonly deadline: number }
    >()
    const ended = yield* Deferred.make<ClientError>()
    // artifact bytes arriving as sidecar frames, keyed by the fetch's id (§16.2)
    const inbox = yield* makeInbox()
    const sessionId = yield* Ref.make(Option.none<SessionId>())

    const write = <T extends MessageType>(type: T, payload: PayloadOf<T>, header: HeaderOptions = {}) =>
      Effect.gen(function*() {
        const sid = yield* Ref.get(sessionId)
        const envelope = yield* makeEnvelope(type, payload, {
          ...(Option.isSome(sid) ? { session_id: sid.value } : {}),
          ...header
        })
        yield* sendFrame(encodeUnchecked(envelope))
        return envelope.id
      })

    const end = (error: ClientError) =>
      Effect.gen(function*() {
        yield* Deferred.succeed(ended, error)
        for (const p of pending.values()) yield* Deferred.fail(p.answer, error)
        pending.clear()
        yield* jobs.failAll(error)
      })

    // the invokes' job handles: job events are routed straight to them by the reader
    const jobs = JobRouter.make<ClientError>()

    const credentials = options.credentials
    const onMessage = (message: Decoded) =>
      Effect.gen(function*() {
        if (message.session_id !== undefined) lastSeen = message.id
        yield* jobs.route(message)
        const correlation = message.correlation_id
        if (correlation !== undefined) {
          // a nack after a fetch was answered: its sidecar transfer failed midway
          if (isCore(message) && message.type === "nack") yield* inbox.fail(correlation, errorOf(message.payload))
          const waiter = pending.get(correlation)
          if (waiter !== undefined) {
            pending.delete(correlation)
            yield* isCore(message) && message.type === "nack"
              ? Deferred.fail(waiter.answer, errorOf(message.payload))
              : Deferred.succeed(waiter.answer, message)
          }
        }
        if (isCore(message)) {
          if (message.type === "session.refresh" && message.payload.challenge_id !== undefined) {
            // §8.4: answer with a fresh session.authenticate; the runtime evicts us otherwise
            const challengeId = message.payload.challenge_id
            yield* answerChallenge(credentials, message.payload.type ?? "", message.payload.params).pipe(
              Effect.flatMap((response) => write("session.authenticate", { challenge_id: challengeId, response })),
              Effect.catchAll((e) => Effect.logWarning(`cannot re-authenticate: ${e.message}`))
            )
          }
          if (message.type === "session.evicted") {
            // a runtime going down for a restart lets us come back: the supervisor reconnects
            if (message.payload.allow_resume === true && message.payload.reason === "UNAVAILABLE" && canRedial) {
              return yield* PubSub.publish(inbound, message)
            }
            resumable = false
            yield* end(
              new ClientError({
                reason: "Evicted",
                message: message.payload.message ?? message.payload.reason,
                code: message.payload.reason
              })
            )
          }
        }
        yield* PubSub.publish(inbound, message)
        if (resumeId !== undefined && correlation === resumeId) {
          resumeId = undefined
          if (message.type === "ack") yield* PubSub.publish(inbound, Subscription.Resumed)
        }
      })

    // binary stream chunks arriving as sidecar frames, reassembled in order (§11.3)
    const chunks = StreamChunks.makeAssembler()
    const handOn = (messages: ReadonlyArray<Decoded>) => Effect.forEach(messages, onMessage, { discard: true })

    /** Reads one transport's frames, in order, until it ends. */
    const readFrom = (conn: Connection) =>
      conn.incoming.pipe(
        Stream.runForEach((frame) => {
          if (frame._tag === "Binary") {
            const sidecar = decodeSidecar(frame.data)
            if (typeof sidecar === "string") return Effect.logWarning(`ignored a binary frame: ${sidecar}`)
            if (sidecar.kind === "stream") return Effect.flatMap(chunks.onFrame(sidecar), handOn)
            return Effect.flatMap(
              inbox.accept(sidecar),
              (outcome) =>
                outcome === "delivered" ? Effect.void : Effect.logDebug(`ignored a sidecar frame for ${sidecar.key}`)
            )
          }
          if (frame._tag !== "Text") {
            return Effect.logDebug(`ignored ${frame._tag} frame`)
          }
          const decoded = decodeJson(frame.text)
          return Either.isRight(decoded)
            ? Effect.flatMap(chunks.onMessage(decoded.right), handOn)
            : Effect.logWarning(`undecodable message from the runtime: ${decoded.left.message}`)
        }),
        Effect.match({
          onFailure: (e) => new ClientError({ reason: "Transport", message: e.message }),
          onSuccess: () => new ClientError({ reason: "Closed", message: "the connection closed" })
        })
      )

    const policy = options.reconnect === false ? undefined : (options.reconnect ?? {})
    const canRedial = redial !== undefined && policy !== undefined
    const sessionScope = yield* Effect.scope
    // the reader of the first transport; the supervisor replaces it when a redialled one takes over
    let reader = yield* Effect.forkIn(readFrom(connection), sessionScope)
    // set once the session is open and everything the supervisor uses is in place
    let established = false
    // the supervisor: when the transport ends, the session ends — or, once established and with a policy,
    // comes back on a new one
    yield* Effect.gen(function*() {
      let held: Scope.CloseableScope | undefined
      while (true) {
        const reason = yield* Fiber.join(reader)
        if (!established || closing || !resumable || redial === undefined || policy === undefined) {
          return yield* end(reason)
        }
        yield* up.close
        if (held !== undefined) yield* Scope.close(held, Exit.void)
        yield* Effect.logInfo(`transport lost (${reason.message}); reconnecting`)
        const outcome = yield* Effect.either(reconnect(policy, redial))
        yield* up.open
        if (Either.isLeft(outcome)) return yield* end(outcome.left)
        held = outcome.right
      }
    }).pipe(Effect.forkIn(sessionScope))

    /**
     * One sweeper fails requests whose answer is overdue, rather than a timeout race per request:
     * that race forked two fibers and a timer per call, a fifth of the client's cost (bench/invoke).
     * A request fails between `timeout` and `timeout` plus one sweep interval after it was sent.
     */
    const sweepEvery = Duration.clamp(Duration.divide(timeout, 10).pipe(Option.getOrElse(() => Duration.seconds(1))), {
      minimum: Duration.millis(10),
      maximum: Duration.seconds(1)
    })
    yield* Effect.gen(function*() {
      while (true) {
        yield* Effect.sleep(sweepEvery)
        const now = yield* Clock.currentTimeMillis
        for (const [id, request] of pending) {
          if (request.deadline > now) continue
          pending.delete(id)
          yield* Deferred.fail(
            request.answer,
            new ClientError({ reason: "Timeout", message: `no answer to ${id} within ${Duration.format(timeout)}` })
          )
        }
      }
    }).pipe(Effect.forkScoped)

    const expect = (id: MessageId) =>
      Effect.gen(function*() {
        const answer = yield* Deferred.make<Decoded, ArcpError | ClientError>()
        const now = yield* Clock.currentTimeMillis
        pending.set(id, { answer, deadline: now + Duration.toMillis(timeout) })
        return Deferred.await(answer).pipe(Effect.ensuring(Effect.sync(() => pending.delete(id))))
      })

    /**
     * Sends a prepared envelope and waits for its first correlated answer (registered before sending);
     * `gated` false: at once, even while reconnecting (the new transport's handshake).
     */
    const sendAndAwait = (envelope: Decoded, gated = true) =>
      Effect.gen(function*() {
        const answer = yield* expect(envelope.id)
        const sid = yield* Ref.get(sessionId)
        const text = encodeUnchecked({ ...envelope, ...(Option.isSome(sid) ? { session_id: sid.value } : {}) })
        yield* gated ? sendFrame(text) : sendNow(text)
        return yield* answer
      })

    const request = <T extends MessageType>(type: T, payload: PayloadOf<T>, header: HeaderOptions = {}) =>
      Effect.flatMap(makeEnvelope(type, payload, header), sendAndAwait)

    /**
     * Sends `envelope`, then runs `during` (sidecar frames) while its answer may already come; the
     * answer's deadline starts once `during` is done, so a long upload is not cut short.
     */
    const exchange = (envelope: Decoded, during: Effect.Effect<void, ArcpError | ClientError>) =>
      Effect.gen(function*() {
        const answer = yield* expect(envelope.id)
        const entry = pending.get(envelope.id)
        if (entry !== undefined) pending.set(envelope.id, { ...entry, deadline: Number.POSITIVE_INFINITY })
        const sid = yield* Ref.get(sessionId)
        yield* sendFrame(encodeUnchecked({ ...envelope, ...(Option.isSome(sid) ? { session_id: sid.value } : {}) }))
        const sender = yield* Effect.fork(
          Effect.tap(during, () =>
            Effect.flatMap(Clock.currentTimeMillis, (now) =>
              Effect.sync(() => {
                const waiting = pending.get(envelope.id)
                if (waiting !== undefined) {
                  pending.set(envelope.id, { ...waiting, deadline: now + Duration.toMillis(timeout) })
                }
              })))
        )
        // a sender that fails first (its source, the socket) ends the wait with its own error
        const sent = Effect.flatMap(Fiber.join(sender), () => Effect.never)
        const reply = yield* Effect.raceFirst(answer, sent)
        yield* Fiber.interrupt(sender)
        return reply
      })

    /**
     * The handshake (§8.1) on the current transport: session.open (naming the session once there is
     * one, to take it back, §9), the challenges, then session.accepted; a rejection fails with its error.
     */
    const handshake = (gated: boolean) =>
      Effect.gen(function*() {
        const ask = <T extends MessageType>(type: T, payload: PayloadOf<T>) =>
          Effect.flatMap(makeEnvelope(type, payload), (envelope) => sendAndAwait(envelope, gated))
        const token = yield* openToken(credentials)
        let reply = yield* ask("session.open", {
          auth: { scheme: credentials.scheme, ...(token !== undefined ? { token } : {}) },
          client: options.client ?? { kind: "arcp-client", version: VERSION },
          // what this client implements, unless the caller says otherwise: artifacts, sidecar frames where the
          // transport has them, and tool discovery
          capabilities: {
            artifacts: true,
            subscriptions: true,
            agent_delegation: true,
            agent_handoff: true,
            workflows: true,
            binary_encoding: current.binary ? ["base64", "sidecar"] : ["base64"],
            ...options.capabilities,
            extensions: options.capabilities?.extensions ?? [TOOLS_EXTENSION]
          }
        })
        while (isCore(reply) && reply.type === "session.challenge") {
          const { challenge_id, params, type } = reply.payload
          const response = yield* answerChallenge(credentials, type, params)
          reply = yield* ask("session.authenticate", { challenge_id, response })
        }
        if (!isCore(reply) || (reply.type !== "session.accepted" && reply.type !== "session.rejected")) {
          return yield* new ClientError({ reason: "Closed", message: `unexpected handshake answer ${reply.type}` })
        }
        if (reply.type === "session.rejected") return yield* errorOf(reply.payload)
        return reply
      })
    const reply = yield* handshake(true)
    const accepted: Message<"session.accepted"> = reply
    const { runtime } = accepted.payload
    yield* Ref.set(sessionId, Option.some(accepted.payload.session_id))
    if (options.pinFingerprint !== undefined && runtime.fingerprint !== options.pinFingerprint) {
      // the runtime did accept us: close the session politely (it frees its state at once), then hang up
      yield* request("session.close", { reason: "runtime fingerprint mismatch" }).pipe(
        Effect.timeout("5 seconds"),
        Effect.ignore
      )
      closing = true
      yield* connection.close
      return yield* new ClientError({
        reason: "FingerprintMismatch",
        message: `runtime fingerprint ${
          runtime.fingerprint ?? "(none)"
        } does not match the pinned ${options.pinFingerprint}`
      })
    }

    /**
     * Takes the session back on a freshly dialled transport and resumes it after the last message
     * seen (§19): fails with the runtime's refusal (DATA_LOSS when it cannot replay from there).
     */
    const takeBack = (after: MessageId | undefined) =>
      Effect.gen(function*() {
        yield* handshake(false)
        const resume = yield* makeEnvelope("resume", after === undefined ? {} : { after_message_id: after })
        resumeId = resume.id
        yield* sendAndAwait(resume, false)
      })

    /** Dials until a transport takes the session back; the scope of the new transport, or why it gave up. */
    const reconnect = (rules: ReconnectPolicy, dial: Effect.Effect<Connection, unknown, Scope.Scope>) =>
      Effect.gen(function*() {
        const attempts = Math.max(1, rules.attempts ?? DEFAULT_POLICY.attempts)
        let last = "the connection dropped"
        // the last message of the lost transport: later handshakes' answers are new messages, after what was missed
        const after = lastSeen
        for (let attempt = 1; attempt <= attempts && !closing; attempt++) {
          yield* Effect.sleep(yield* delayBefore(rules, attempt))
          const scope = yield* Scope.fork(sessionScope, ExecutionStrategy.sequential)
          const dialled = yield* Effect.either(Scope.extend(dial, scope))
          if (Either.isLeft(dialled)) {
            last = dialled.left instanceof Error ? dialled.left.message : String(dialled.left)
            yield* Scope.close(scope, Exit.void)
            continue
          }
          current = dialled.right
          reader = yield* Effect.forkIn(readFrom(current), sessionScope)
          const resumed = yield* Effect.either(takeBack(after))
          if (Either.isRight(resumed)) {
            yield* Effect.logInfo(`reconnected and resumed session after ${attempt} attempt(s)`)
            return scope
          }
          yield* Scope.close(scope, Exit.void)
          const error = resumed.left
          // the runtime answered: it will not take the session back (DATA_LOSS, PERMISSION_DENIED...)
          if (error._tag === "ArcpError") {
            return yield* new ClientError({
              reason: error.code === "DATA_LOSS" ? "DataLoss" : "Closed",
              message: `cannot resume the session: ${error.message}`,
              code: error.code
            })
          }
          last = error.message
        }
        return yield* new ClientError({
          reason: "Transport",
          message: `the connection dropped and ${attempts} reconnection attempt(s) failed: ${last}`
        })
      })

    const withMarks = Effect.map(PubSub.subscribe(inbound), (queue) => Stream.fromQueue(queue))
    const messages = Effect.map(withMarks, Stream.filter(Subscription.isMessage))

    const headerOf = (invokeOptions: InvokeOptions): HeaderOptions => ({
      ...(invokeOptions.idempotency_key !== undefined ? { idempotency_key: invokeOptions.idempotency_key } : {}),
      ...(invokeOptions.priority !== undefined ? { priority: invokeOptions.priority } : {}),
      ...(invokeOptions.trace_id !== undefined ? { trace_id: TraceId.make(invokeOptions.trace_id) } : {})
    })

    const invokeOnce = (tool: string, args?: Record<string, unknown>, invokeOptions: InvokeOptions = {}) =>
      Effect.flatMap(
        makeEnvelope(
          "tool.invoke",
          { tool, ...(args !== undefined ? { arguments: args } : {}) },
          headerOf(invokeOptions)
        ),
        startJob
      )

    /** Sends a command that starts a job (tool.invoke, agent.delegate, workflow.start) and tracks the job. */
    const startJob = (envelope: Decoded) =>
      Effect.gen(function*() {
        const sink: JobRouter.JobSink<ClientError> = {
          events: yield* Mailbox.make<Decoded>(),
          outcome: yield* Deferred.make<unknown, ArcpError | ClientError>()
        }
        // registered before sending: the reader attaches the job when its job.accepted arrives
        jobs.expect(envelope.id, sink)
        yield* Effect.addFinalizer(() => Effect.sync(() => jobs.forget(envelope.id)))
        const reply = yield* sendAndAwait(envelope)
        if (!isCore(reply) || reply.type !== "job.accepted") {
          return yield* new ClientError({ reason: "Closed", message: `expected job.accepted, got ${reply.type}` })
        }
        const jobId = reply.payload.job_id
        yield* Effect.addFinalizer(() => Effect.sync(() => jobs.forget(envelope.id, jobId)))
        const handle: JobHandle = {
          jobId,
          events: Mailbox.toStream(sink.events),
          outcome: Deferred.await(sink.outcome),
          cancel: (cancelOptions = {}) => request("cancel", { target: "job", target_id: jobId, ...cancelOptions }),
          interrupt: (prompt) =>
            Effect.asVoid(
              request("interrupt", { target: "job", target_id: jobId, ...(prompt !== undefined ? { prompt } : {}) })
            )
        }
        return handle
      })

    const artifactDeps: ClientArtifacts.ArtifactDeps = {
      connection: live,
      capabilities: accepted.payload.capabilities,
      inbox,
      exchange,
      clientError: (reason, message) => new ClientError({ reason, message })
    }
    /** The client's retries (`InvokeOptions.retry`) around `invokeOnce`. */
    const invoke = (tool: string, args?: Record<string, unknown>, invokeOptions: InvokeOptions = {}) =>
      Effect.gen(function*() {
        const policy = invokeOptions.retry
        if (policy === undefined || policy.attempts <= 1) return yield* invokeOnce(tool, args, invokeOptions)
        const scope = yield* Effect.scope
        const key = invokeOptions.idempotency_key ?? `retry_${yield* ulid}`
        const initial = Duration.toMillis(Duration.decode(policy.backoff ?? "200 millis"))
        const pause = (attempt: number, error: ArcpError) => {
          const floor = error.details?.retry_after_seconds
          const ms = Math.max(initial * 2 ** (attempt - 1), typeof floor === "number" ? floor * 1000 : 0)
          return Effect.sleep(Duration.millis(ms))
        }
        const retryable = (e: ArcpError | ClientError): e is ArcpError => e._tag === "ArcpError" && e.isRetryable
        let attempt = 1
        /** Sends the invoke under `k` until accepted, while the refusal is retryable and attempts remain. */
        const accepted = (k: string): Effect.Effect<JobHandle, ArcpError | ClientError> =>
          invokeOnce(tool, args, { ...invokeOptions, idempotency_key: k }).pipe(
            Scope.extend(scope),
            Effect.catchIf(
              (e): e is ArcpError => retryable(e) && attempt < policy.attempts,
              (e) =>
                Effect.suspend(() => {
                  attempt += 1
                  return Effect.zipRight(pause(attempt - 1, e), accepted(k))
                })
            )
          )
        const first = yield* accepted(key)
        const outcome = Effect.gen(function*() {
          let handle = first
          let rerun = 0
          while (true) {
            const result = yield* Effect.either(handle.outcome)
            if (Either.isRight(result)) return result.right
            const error = result.left
            if (!retryable(error) || attempt >= policy.attempts) return yield* Effect.fail(error)
            attempt += 1
            rerun += 1
            yield* pause(attempt - 1, error)
            handle = yield* accepted(`${key}#retry-${rerun}`)
          }
        })
        return { ...first, outcome }
      })

    const schedule = (
      tool: string,
      args: Record<string, unknown> | undefined,
      when: ScheduleWhen,
      scheduleOptions: ScheduleOptions = {}
    ) =>
      Effect.gen(function*() {
        const envelope = yield* makeEnvelope("job.schedule", {
          job: { type: "tool.invoke", payload: { tool, ...(args !== undefined ? { arguments: args } : {}) } },
          when,
          ...(scheduleOptions.missed !== undefined ? { missed: scheduleOptions.missed } : {})
        }, {
          ...(scheduleOptions.idempotency_key !== undefined
            ? { idempotency_key: scheduleOptions.idempotency_key }
            : {}),
          ...(scheduleOptions.trace_id !== undefined ? { trace_id: TraceId.make(scheduleOptions.trace_id) } : {})
        })
        // subscribed before sending: a firing may follow the answer at once
        const firings = yield* messages
        const reply = yield* sendAndAwait(envelope)
        if (!isCore(reply) || reply.type !== "job.accepted") {
          return yield* new ClientError({ reason: "Closed", message: `expected job.accepted, got ${reply.type}` })
        }
        const scheduleId = reply.payload.job_id
        const handle: ScheduleHandle = {
          scheduleId,
          commandId: envelope.id,
          firings: firings.pipe(
            Stream.filter((m) => m.causation_id === envelope.id && m.job_id !== undefined && m.job_id !== scheduleId)
          ),
          cancel: request("cancel", { target: "job", target_id: scheduleId })
        }
        return handle
      })

    const listSchedules = Effect.flatMap(makeEnvelope(SCHEDULES_LIST, {}), sendAndAwait).pipe(
      Effect.map((answer) => {
        const schedules: unknown = Reflect.get(answer.payload, "schedules")
        return Array.isArray(schedules) ? schedules : []
      })
    )

    const session: Session = {
      id: accepted.payload.session_id,
      runtime,
      capabilities: accepted.payload.capabilities,
      trustLevel: accepted.payload.trust_level,
      messages,
      subscribe: (filter, since) =>
        Subscription.subscribe(
          {
            messages: withMarks,
            sendAndAwait,
            // on the transport in use (a reconnect replaces it)
            send: (envelope) =>
              Effect.flatMap(
                Ref.get(sessionId),
                (sid) =>
                  sendFrame(encodeUnchecked({ ...envelope, ...(Option.isSome(sid) ? { session_id: sid.value } : {}) }))
              ),
            unexpected: (expected, got) =>
              new ClientError({ reason: "Closed", message: `expected ${expected}, got ${got.type}` })
          },
          filter,
          since
        ).pipe(
          // a session that ends (not closed by us) ends the subscription with why: DataLoss, Evicted...
          Stream.interruptWhen(Effect.flatMap(Deferred.await(ended), (e) => closing ? Effect.void : Effect.fail(e)))
        ),
      invoke,
      schedule,
      listSchedules,
      delegate: (target, task, delegateOptions = {}) =>
        Effect.flatMap(
          makeEnvelope("agent.delegate", {
            target,
            task,
            ...(delegateOptions.arguments !== undefined ? { arguments: delegateOptions.arguments } : {}),
            ...(delegateOptions.context !== undefined ? { context: delegateOptions.context } : {})
          }, headerOf(delegateOptions)),
          startJob
        ),
      startWorkflow: (workflow, workflowOptions = {}) =>
        Effect.flatMap(
          makeEnvelope("workflow.start", {
            workflow,
            ...(workflowOptions.inputs !== undefined ? { inputs: workflowOptions.inputs } : {}),
            ...(workflowOptions.steps !== undefined ? { steps: workflowOptions.steps } : {})
          }, headerOf(workflowOptions)),
          startJob
        ),
      handOver: (toRuntime, job, handOverOptions = {}) =>
        Effect.flatMap(
          makeEnvelope("agent.handoff", {
            to_runtime: toRuntime,
            job,
            ...(handOverOptions.job_id !== undefined ? { job_id: JobId.make(handOverOptions.job_id) } : {}),
            ...(handOverOptions.reason !== undefined ? { reason: handOverOptions.reason } : {})
          }, headerOf(handOverOptions)),
          startJob
        ),
      handoff: (toRuntime, handoffOptions = {}) =>
        Effect.asVoid(request("agent.handoff", { to_runtime: toRuntime, ...handoffOptions })),
      ...Answers.make<ClientError>({
        request,
        expect,
        send: (envelope) =>
          Effect.flatMap(
            Ref.get(sessionId),
            (sid) =>
              sendFrame(encodeUnchecked({ ...envelope, ...(Option.isSome(sid) ? { session_id: sid.value } : {}) }))
          ),
        unexpected: (expected, got) =>
          new ClientError({ reason: "Closed", message: `expected ${expected}, got ${got.type}` })
      }),
      send: (type, payload, header) => write(type, payload, header),
      tools: (listOptions = {}) =>
        Effect.gen(function*() {
          if (!(accepted.payload.capabilities.extensions ?? []).includes(TOOLS_EXTENSION)) {
            return yield* ArcpError.of("UNIMPLEMENTED", `the session did not negotiate ${TOOLS_EXTENSION}`)
          }
          const reply = yield* Effect.flatMap(makeEnvelope(LIST_TYPE, listOptions), sendAndAwait)
          if (reply.type !== LISTED_TYPE) {
            return yield* new ClientError({ reason: "Closed", message: `expected ${LISTED_TYPE}, got ${reply.type}` })
          }
          return yield* decodeListed(reply.payload).pipe(
            Effect.mapError((e) => ArcpError.of("INVALID_ARGUMENT", `malformed ${LISTED_TYPE}: ${e.message}`)),
            Effect.map((listed) => listed.tools)
          )
        }),
      request,
      sendExtension: (type, payload, extensionOptions) =>
        Effect.gen(function*() {
          const envelope = yield* extensionEnvelope(type, payload, extensionOptions)
          const sid = yield* Ref.get(sessionId)
          yield* connection.send(
            encodeUnchecked({ ...envelope, ...(Option.isSome(sid) ? { session_id: sid.value } : {}) })
          ).pipe(Effect.mapError((e) => new ClientError({ reason: "Transport", message: e.message })))
          return envelope.id
        }),
      requestExtension: (type, payload, extensionOptions) =>
        Effect.flatMap(extensionEnvelope(type, payload, extensionOptions), sendAndAwait),
      ping: Effect.gen(function*() {
        const start = yield* Clock.currentTimeMillis
        yield* request("ping", {})
        return Duration.millis((yield* Clock.currentTimeMillis) - start)
      }),
      close: (closeOptions = {}) =>
        Effect.sync(() => {
          closing = true
        }).pipe(
          Effect.zipRight(request("session.close", closeOptions)),
          Effect.timeout("5 seconds"),
          Effect.ignore,
          Effect.zipRight(Effect.suspend(() => current.close))
        ),
      ended: Deferred.await(ended),
      putArtifact: (data, putOptions) => ClientArtifacts.put(artifactDeps, data, putOptions),
      fetchArtifact: (artifact, fetchOptions) => ClientArtifacts.fetch(artifactDeps, artifact, fetchOptions)
    }
    established = true
    return session
  })
