/**
 * `arcp/promise`: the same client and server for code that does not use
 * Effect. Every call is a Promise; streams are async iterators; failures
 * reject with the typed error (`ArcpError`, `ClientError`, `TransportError`).
 */
import {
  Cause,
  Chunk,
  Duration,
  Effect,
  Either,
  Exit,
  Layer,
  Logger,
  LogLevel,
  Option,
  Schema,
  Scope,
  Stream
} from "effect"
import type { Capabilities } from "../../protocol/Capabilities.js"
import type { HeaderOptions } from "../../protocol/Envelope.js"
import { ArcpError, type ArcpError as WireError } from "../../protocol/Errors.js"
import type { ToolDescription } from "../../protocol/extensions/ToolDiscovery.js"
import type { MessageId, SessionId } from "../../protocol/Ids.js"
import type { Decoded, MessageType, PayloadOf } from "../../protocol/Message.js"
import type { ArtifactRef } from "../../protocol/messages/Artifacts.js"
import type { RuntimeIdentity } from "../../protocol/messages/Session.js"
import type { StreamKind } from "../../protocol/messages/Streaming.js"
import type { LogLevel as WireLogLevel } from "../../protocol/messages/Telemetry.js"
import * as PermissionPolicy from "../../runtime/permissions/PermissionPolicy.js"
import type { PermissionQuestion, PromiseDecision } from "../../runtime/permissions/PermissionPolicy.js"
import * as Server from "../../runtime/Server.js"
import { Sessions } from "../../runtime/Sessions.js"
import type { ChunkOf, StreamOptions, StreamWriter } from "../../runtime/Streams.js"
import * as Tools from "../../runtime/Tools.js"
import type { Lease, PermissionAsk, Tool } from "../../runtime/Tools.js"
import * as Stdio from "../../transport/Stdio.js"
import { Acceptor, type Connection } from "../../transport/Transport.js"
import type { UpgradeSource } from "../../transport/WebSocketUpgrade.js"
import * as ArcpClient from "../ArcpClient.js"
import type * as Client from "../Client.js"
import type { FetchArtifactOptions, PutArtifactOptions } from "../session/ClientArtifacts.js"
import type { SubscribeSince, SubscriptionFilter } from "../session/Subscription.js"
import { type Parameters, validator } from "./Parameters.js"

export { ArcpError } from "../../protocol/Errors.js"
export type { ToolDescription } from "../../protocol/extensions/ToolDiscovery.js"
export type { ArtifactRef } from "../../protocol/messages/Artifacts.js"
export type {
  PermissionDecision as PolicyDecision,
  PermissionQuestion
} from "../../runtime/permissions/PermissionPolicy.js"
export type { PromiseDecision } from "../../runtime/permissions/PermissionPolicy.js"
export type { Lease, PermissionAsk, Restored } from "../../runtime/Tools.js"
export { TransportError } from "../../transport/Transport.js"
export { chunkBytes, ClientError } from "../Client.js"
export { jwtSigner } from "../Credentials.js"
export type { Credentials } from "../Credentials.js"
export type { FetchArtifactOptions, PutArtifactOptions } from "../session/ClientArtifacts.js"
export { isBackfillComplete } from "../session/Subscription.js"
export type { SubscribeSince, SubscriptionFilter } from "../session/Subscription.js"
export { jsonSchema } from "./Parameters.js"
export type { JsonSchema, Parameters, StandardSchemaV1 } from "./Parameters.js"
export * from "./PromiseDashboard.js"

/** Bytes for an artifact: all at once, a web `ReadableStream`, or any async iterable (a Node stream, a generator). */
export type ByteSource = Uint8Array | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>

/** A `ByteSource` as a Stream; the source's own failure is the stream's error. */
const byteStream = (data: ByteSource): Stream.Stream<Uint8Array, unknown> =>
  data instanceof Uint8Array
    ? Stream.succeed(data)
    : Symbol.asyncIterator in data
    ? Stream.fromAsyncIterable(data, (e) => e)
    : Stream.fromReadableStream(() => data, (e) => e)

/**
 * Runs an effect, rejecting with its typed failure (not a FiberFailure wrapper). An aborted `signal`
 * interrupts it, and the promise rejects with the signal's reason (an `AbortError`, as `fetch` does).
 */
const run = <A, E>(effect: Effect.Effect<A, E>, signal?: AbortSignal): Promise<A> =>
  Effect.runPromiseExit(effect, signal !== undefined ? { signal } : undefined).then((exit) => {
    if (Exit.isSuccess(exit)) return exit.value
    if (signal?.aborted === true && Cause.isInterruptedOnly(exit.cause)) throw signal.reason
    throw Cause.squash(exit.cause)
  })

/** A job started by `invoke`: its events as an async iterator, its result as a Promise. */
export interface PromiseJob {
  readonly jobId: string
  /** The job's events up to and including its terminal event (iterate once). */
  readonly events: AsyncIterable<Decoded>
  /** The result value; rejects with the job's `ArcpError` (CANCELLED when cancelled). */
  readonly result: Promise<unknown>
  /** The runtime's answer: `cancel.accepted` or `cancel.refused`; `deadlineMs` bounds the job's wind-down (§10.4). */
  cancel(options?: { readonly reason?: string; readonly deadlineMs?: number }): Promise<Decoded>
  interrupt(prompt?: string): Promise<void>
}

/** A schedule accepted by the runtime. */
export interface PromiseSchedule {
  readonly scheduleId: string
  /** The `job.schedule` message id: the `causation_id` of every firing's events. */
  readonly commandId: string
  /** The events of its firings delivered to this session, until the session closes. */
  readonly firings: AsyncIterable<Decoded>
  /** `cancel.accepted` or `cancel.refused`. */
  cancel(): Promise<Decoded>
}

/** Options of `invoke`, in the conventions of Promise libraries: camelCase, milliseconds, an AbortSignal. */
export interface PromiseInvokeOptions {
  /** Makes the invoke safe to repeat: the runtime answers a repeat with the first job (§6.4). */
  readonly idempotencyKey?: string
  readonly priority?: "low" | "normal" | "high" | "critical"
  readonly traceId?: string
  /**
   * Retries what is retryable (§18.3): `attempts` in all, the first `backoffMs` (default 200) doubled
   * each time; a refused invoke is resent under the same idempotency key (see the Effect client's `retry`).
   */
  readonly retry?: { readonly attempts: number; readonly backoffMs?: number }
  /**
   * Aborting it before the job is accepted rejects `invoke` with the signal's reason; after, it asks
   * the runtime to cancel the job, whose `result` then rejects with CANCELLED.
   */
  readonly signal?: AbortSignal
}

/** Options of `connect`: the Effect client's, with the reply timeout in milliseconds and an AbortSignal. */
export interface PromiseConnectOptions extends Omit<Client.ConnectOptions, "timeout"> {
  /** How long to wait for the handshake and for each reply, in milliseconds (default 30000). */
  readonly timeoutMs?: number
  /** Aborting it gives up connecting: `connect` rejects with the signal's reason. */
  readonly signal?: AbortSignal
}

/**
 * An open session. Close it when done (`await session.close()`, or `await using session = await
 * connect(...)`): an open session keeps its connection, and so the Node process, alive.
 */
export interface PromiseSession extends AsyncDisposable {
  readonly id: SessionId
  readonly runtime: RuntimeIdentity
  readonly capabilities: Capabilities
  /** The session's trust level from session.accepted (§15.3). */
  readonly trustLevel: string | undefined
  send<T extends MessageType>(type: T, payload: PayloadOf<T>, options?: HeaderOptions): Promise<MessageId>
  request<T extends MessageType>(type: T, payload: PayloadOf<T>, options?: HeaderOptions): Promise<Decoded>
  /** Invokes a tool as a job; rejects with the nack's `ArcpError` when the runtime refuses it. */
  invoke(tool: string, args?: Record<string, unknown>, options?: PromiseInvokeOptions): Promise<PromiseJob>
  /** Schedules a tool (§10.6); rejects with the nack's `ArcpError` (INVALID_ARGUMENT with the reason) when refused. */
  schedule(
    tool: string,
    args: Record<string, unknown> | undefined,
    when: Client.ScheduleWhen,
    options?: Client.ScheduleOptions
  ): Promise<PromiseSchedule>
  /** The principal's active schedules (needs `arcpx.arcp.schedules.v1` in `capabilities.extensions`). */
  listSchedules(): Promise<ReadonlyArray<unknown>>
  /** Answers a `human.input.request`: resolves once the runtime took it, rejects with its nack (see `Session.respond`). */
  respond(requestId: MessageId, value: unknown, respondedBy?: string): Promise<void>
  /** The tools this principal may invoke (extension `arcpx.arcp.tools.v1`). */
  tools(options?: { readonly prefix?: string }): Promise<ReadonlyArray<ToolDescription>>
  /** Answers a `human.choice.request` with an option id. */
  respondChoice(requestId: MessageId, choiceId: string, respondedBy?: string): Promise<void>
  /** Grants a `permission.request` (optionally widened to a resource pattern); resolves with the `lease.granted` payload. */
  grant(
    request: Decoded,
    options?: { readonly resource?: string; readonly expires_at?: string; readonly granted_by?: string }
  ): Promise<PayloadOf<"lease.granted">>
  /** Denies a `permission.request`. */
  deny(request: Decoded, reason: string): Promise<void>
  /** Extends a lease; resolves with the `lease.extended` payload. */
  refreshLease(leaseId: string, seconds: number): Promise<PayloadOf<"lease.extended">>
  /** Sends an extension message (§21; `optional: true` lets a runtime that does not know it drop it); resolves with its id. */
  sendExtension(type: string, payload: Record<string, unknown>, options?: Client.ExtensionOptions): Promise<MessageId>
  /** Sends an extension message and resolves with its first correlated reply; rejects with a `nack`'s ArcpError. */
  requestExtension(type: string, payload: Record<string, unknown>, options?: Client.ExtensionOptions): Promise<Decoded>
  /** Round-trip time in milliseconds. */
  ping(): Promise<number>
  /** Every message from now on, until the session closes or the iterator is returned. */
  messages(): AsyncIterable<Decoded>
  /**
   * Observes events matching `filter` (§13): with `since.after_message_id`, the backfill, then the
   * `subscription.backfill_complete` marker (`isBackfillComplete`), then live events; each item is the
   * original envelope. The iteration throws the runtime's `ArcpError` (PERMISSION_DENIED,
   * BACKPRESSURE_OVERFLOW...); returning from it (break) unsubscribes.
   */
  subscribe(filter: SubscriptionFilter, since?: SubscribeSince): AsyncIterable<Decoded>
  /**
   * Uploads an artifact (§16.2) — sidecar frames on WebSocket, base64 otherwise — and resolves with its
   * ref; rejects with the runtime's `ArcpError` (RESOURCE_EXHAUSTED, DATA_LOSS...) or the source's error.
   */
  putArtifact(data: ByteSource, options: PutArtifactOptions): Promise<ArtifactRef>
  /** The artifact's bytes as an async iterable (fetched as it is iterated; rejects NOT_FOUND when gone). */
  fetchArtifact(artifact: ArtifactRef | string, options?: FetchArtifactOptions): AsyncIterable<Uint8Array>
  /** The artifact's bytes, all of them (for small artifacts). */
  fetchArtifactBytes(artifact: ArtifactRef | string, options?: FetchArtifactOptions): Promise<Uint8Array>
  /** Closes the session (§9) and its connection; completes also when the runtime has already gone. */
  close(): Promise<void>
  /** `close()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>
}

/** Where the runtime is: a URL (ws://, wss://, unix:///path, http:// h2c, https:// HTTP/2), an open `Connection` (a memory pair...), or a pair of pipes (a child's stdout/stdin). */
export type Target = string | Connection | Stdio.Options

/** Connects (by the URL's scheme for a URL, stdio for pipes, or the given connection) and opens a session. */
export const connect = async (
  target: Target,
  options: PromiseConnectOptions
): Promise<PromiseSession> => {
  const { signal, timeoutMs, ...rest } = options
  signal?.throwIfAborted()
  const scope = Effect.runSync(Scope.make())
  const clientOptions: Client.ConnectOptions = { ...rest, ...(timeoutMs !== undefined ? { timeout: timeoutMs } : {}) }
  const session = await run(
    ArcpClient.connect(typeof target === "string" || "incoming" in target ? target : Stdio.make(target), clientOptions)
      .pipe(Scope.extend(scope)),
    signal
  ).catch(async (e: unknown) => {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    throw e
  })
  const close = () => run(session.close().pipe(Effect.zipRight(Scope.close(scope, Exit.void))))
  return {
    id: session.id,
    runtime: session.runtime,
    capabilities: session.capabilities,
    trustLevel: session.trustLevel,
    send: (type, payload, header) => run(session.send(type, payload, header)),
    request: (type, payload, header) => run(session.request(type, payload, header)),
    sendExtension: (type, payload, extensionOptions) => run(session.sendExtension(type, payload, extensionOptions)),
    requestExtension: (type, payload, extensionOptions) =>
      run(session.requestExtension(type, payload, extensionOptions)),
    ping: () => run(Effect.map(session.ping, Duration.toMillis)),
    tools: (listOptions) => run(session.tools(listOptions)),
    invoke: async (tool, args, invokeOptions = {}) => {
      const { signal } = invokeOptions
      signal?.throwIfAborted()
      // the job's resources live with the session
      const job = await run(Scope.extend(session.invoke(tool, args, toInvokeOptions(invokeOptions)), scope), signal)
      const cancel = (cancelOptions: { readonly reason?: string; readonly deadlineMs?: number } = {}) =>
        run(job.cancel({
          ...(cancelOptions.reason !== undefined ? { reason: cancelOptions.reason } : {}),
          ...(cancelOptions.deadlineMs !== undefined ? { deadline_ms: cancelOptions.deadlineMs } : {})
        }))
      const result = run(job.outcome)
      result.catch(() => undefined) // callers who only iterate events must not see an unhandled rejection
      if (signal !== undefined) {
        const onAbort = () => void cancel({ reason: "aborted" }).catch(() => undefined)
        signal.addEventListener("abort", onAbort, { once: true })
        void result.finally(() => signal.removeEventListener("abort", onAbort)).catch(() => undefined)
      }
      return {
        jobId: job.jobId,
        events: Stream.toAsyncIterable(job.events),
        result,
        cancel,
        interrupt: (prompt) => run(job.interrupt(prompt))
      }
    },
    schedule: async (tool, args, when, scheduleOptions) => {
      const handle = await run(Scope.extend(session.schedule(tool, args, when, scheduleOptions), scope))
      return {
        scheduleId: handle.scheduleId,
        commandId: handle.commandId,
        firings: Stream.toAsyncIterable(handle.firings.pipe(Stream.interruptWhen(session.ended))),
        cancel: () => run(handle.cancel)
      }
    },
    listSchedules: () => run(session.listSchedules),
    respond: (requestId, value, respondedBy) => run(session.respond(requestId, value, respondedBy)),
    respondChoice: (requestId, choiceId, respondedBy) => run(session.respondChoice(requestId, choiceId, respondedBy)),
    grant: (request, grantOptions) => run(session.grant(request, grantOptions)),
    deny: (request, reason) => run(session.deny(request, reason)),
    refreshLease: (leaseId, seconds) => run(session.refreshLease(leaseId, seconds)),
    messages: () => {
      const iteratorScope = Effect.runSync(Scope.make())
      const stream = Effect.runSync(Scope.extend(session.messages, iteratorScope)).pipe(
        Stream.interruptWhen(session.ended),
        Stream.ensuring(Scope.close(iteratorScope, Exit.void))
      )
      return Stream.toAsyncIterable(stream)
    },
    subscribe: (filter, since) => Stream.toAsyncIterable(session.subscribe(filter, since)),
    close,
    [Symbol.asyncDispose]: close,
    putArtifact: (data, putOptions) => run(session.putArtifact(byteStream(data), putOptions)),
    fetchArtifact: (artifact, fetchOptions) => Stream.toAsyncIterable(session.fetchArtifact(artifact, fetchOptions)),
    fetchArtifactBytes: (artifact, fetchOptions) =>
      run(Effect.map(
        Stream.runCollect(session.fetchArtifact(artifact, fetchOptions)),
        (chunks) => new Uint8Array(Buffer.concat(Chunk.toReadonlyArray(chunks)))
      ))
  }
}

/** The Effect client's invoke options from the Promise adapter's camelCase ones. */
const toInvokeOptions = (options: PromiseInvokeOptions): Client.InvokeOptions => ({
  ...(options.idempotencyKey !== undefined ? { idempotency_key: options.idempotencyKey } : {}),
  ...(options.priority !== undefined ? { priority: options.priority } : {}),
  ...(options.traceId !== undefined ? { trace_id: options.traceId } : {}),
  ...(options.retry !== undefined
    ? {
      retry: {
        attempts: options.retry.attempts,
        ...(options.retry.backoffMs !== undefined ? { backoff: Duration.millis(options.retry.backoffMs) } : {})
      }
    }
    : {})
})

/** What a Promise-based tool handler gets: the `ToolContext` as Promises, plus an AbortSignal fired on cancellation. */
export interface PromiseToolContext {
  readonly jobId: string
  readonly sessionId: string
  readonly principal: string
  /** 1 for the first attempt; 2, 3... when the tool's `retry` policy re-runs the job (§10.1). */
  readonly attempt: number
  /** Aborted when the job is cancelled: pass it to fetch() and friends. */
  readonly signal: AbortSignal
  /**
   * Set when the job runs again after a runtime restart (§4.3, a tool with `resume`): its last checkpoint's
   * snapshot and the events delivered since, so the handler goes on where it was.
   */
  readonly restored?: Tools.Restored | undefined
  progress(
    progress: {
      readonly percent?: number
      readonly message?: string
      readonly current?: number
      readonly total?: number
    }
  ): Promise<void>
  log(level: WireLogLevel, message: string, attributes?: Record<string, unknown>): Promise<void>
  metric(name: string, value: number, unit: string, dims?: Record<string, string | number | boolean>): Promise<void>
  heartbeat(): Promise<void>
  /** Waits while an interrupt is pending (§10.5); resolves with the guidance of the last answered interrupt, if any. */
  pausePoint(): Promise<string | undefined>
  checkpoint(snapshot?: unknown): Promise<string>
  askHuman(
    request: {
      readonly prompt: string
      readonly responseSchema: Record<string, unknown>
      readonly default?: unknown
      readonly expiresInSeconds?: number
    }
  ): Promise<unknown>
  /** Opens a stream (§11.1) tied to the job; see `ToolContext.stream`. */
  stream<K extends StreamKind>(options: StreamOptions<K>): Promise<PromiseStreamWriter<K>>
  askChoice(
    request: {
      readonly prompt: string
      readonly options: ReadonlyArray<{ readonly id: string; readonly label?: string; readonly description?: string }>
      readonly default?: string
      readonly expiresInSeconds?: number
    }
  ): Promise<string>
  /** Asks for a permission (see `ToolContext.requestPermission`): the lease, or rejects PERMISSION_DENIED. */
  requestPermission(request: PermissionAsk): Promise<Lease>
  /** Checks a lease before using it: rejects PERMISSION_DENIED once it expired or was revoked. */
  checkLease(leaseId: string): Promise<Lease>
  /** Stores bytes as an artifact of the job's session (see `ToolContext.putArtifact`); resolves with its ref. */
  putArtifact(data: ByteSource, mediaType: string, options?: { readonly ttlSeconds?: number }): Promise<ArtifactRef>
}

/** `StreamWriter` as Promises: each call rejects with the writer's `ArcpError` (FAILED_PRECONDITION or CANCELLED once ended). */
export interface PromiseStreamWriter<K extends StreamKind> {
  readonly id: string
  readonly kind: K
  write(chunk: ChunkOf[K]): Promise<void>
  close(reason?: string): Promise<void>
  fail(error: WireError): Promise<void>
}

const promiseWriter = <K extends StreamKind>(writer: StreamWriter<K>): PromiseStreamWriter<K> => ({
  id: writer.id,
  kind: writer.kind,
  write: (chunk) => run(writer.write(chunk)),
  close: (reason) => run(writer.close(reason)),
  fail: (error) => run(writer.fail(error))
})

/**
 * A Promise handler as an effect. Interruption aborts its signal, then waits
 * for the promise to settle: a handler that ignores the signal keeps its job
 * running, so the runtime's cancellation deadline (ABORTED, §10.4) applies.
 */
const fromAbortable = (start: (signal: AbortSignal) => Promise<unknown>): Effect.Effect<unknown, WireError> =>
  Effect.async<unknown, WireError>((resume, signal) => {
    let promise: Promise<unknown>
    try {
      promise = Promise.resolve(start(signal))
    } catch (e) {
      resume(Effect.fail(Tools.fromPromiseFailure(e)))
      return
    }
    const settled = promise.then(
      (value) => resume(Effect.succeed(value)),
      (e: unknown) => resume(Effect.fail(Tools.fromPromiseFailure(e)))
    )
    return Effect.promise(() => settled)
  })

/** Arguments schema accepting any JSON object, for `tool({ parameters: AnyArguments, ... })`. */
export const AnyArguments = Tools.AnyArguments

/**
 * Defines a tool with an async handler. `parameters` checks its arguments before the job is accepted
 * (a mismatch is answered INVALID_ARGUMENT with a sentence per field): an Effect Schema, any Standard
 * Schema v1 validator (zod, valibot, arktype...), or a JSON Schema through `jsonSchema({...})`.
 */
export const tool = <A, I = A>(definition: {
  readonly name: string
  readonly description?: string
  readonly parameters: Parameters<A, I>
  readonly cancellable?: boolean
  readonly liveness?: "runtime" | "reported"
  /** Re-runs the handler after failures with retryable codes (see `Tools.RetryPolicy`). */
  readonly retry?: Tools.RetryPolicy
  /** JSON Schemas published by tool discovery (`arguments` defaults to the one generated from `parameters`). */
  readonly argumentsSchema?: Record<string, unknown>
  readonly resultSchema?: Record<string, unknown>
  readonly handler: (args: A, ctx: PromiseToolContext) => Promise<unknown>
  /**
   * How its jobs continue after a runtime restart (§4.3): "rerun" calls `handler` again with `ctx.restored`
   * set (it skips what its checkpoint says is done); a function is a resume handler of its own. Absent:
   * such a job ends ABORTED.
   */
  readonly resume?: "rerun" | ((args: A, restored: Tools.Restored, ctx: PromiseToolContext) => Promise<unknown>)
}): Tool => {
  const check = validator(definition.parameters)
  const { resume } = definition
  const handle = (args: A, ctx: Tools.ToolContext) =>
    fromAbortable((signal) => {
      const promiseCtx: PromiseToolContext = {
        jobId: ctx.jobId,
        sessionId: ctx.sessionId,
        principal: ctx.principal,
        attempt: ctx.attempt,
        signal,
        ...(ctx.restored !== undefined ? { restored: ctx.restored } : {}),
        progress: (p) => run(ctx.progress(p)),
        log: (level, message, attributes) => run(ctx.log(level, message, attributes)),
        metric: (name, value, unit, dims) => run(ctx.metric(name, value, unit, dims)),
        heartbeat: () => run(ctx.heartbeat),
        pausePoint: () => run(Effect.map(ctx.pausePoint, Option.getOrUndefined)),
        checkpoint: (snapshot) => run(ctx.checkpoint(snapshot)),
        askHuman: (request) => run(ctx.askHuman(request)),
        stream: (options) => run(Effect.map(ctx.stream(options), promiseWriter)),
        askChoice: (request) => run(ctx.askChoice(request)),
        requestPermission: (request) => run(ctx.requestPermission(request)),
        checkLease: (leaseId) => run(ctx.checkLease(leaseId)),
        putArtifact: (data, mediaType, putOptions) =>
          run(ctx.putArtifact(
            byteStream(data).pipe(Stream.mapError((e) => Tools.fromPromiseFailure(e))),
            mediaType,
            putOptions
          ))
      }
      return typeof resume === "function" && ctx.restored !== undefined
        ? resume(args, ctx.restored, promiseCtx)
        : definition.handler(args, promiseCtx)
    })
  // Tools.make gives the defaults; the arguments are checked by `check`, whatever kind of schema it wraps
  const base = Tools.make({
    name: definition.name,
    ...(definition.argumentsSchema !== undefined ? { argumentsSchema: definition.argumentsSchema } : {}),
    ...(definition.resultSchema !== undefined ? { resultSchema: definition.resultSchema } : {}),
    ...(definition.description !== undefined ? { description: definition.description } : {}),
    parameters: Schema.Unknown,
    ...(definition.cancellable !== undefined ? { cancellable: definition.cancellable } : {}),
    ...(definition.liveness !== undefined ? { liveness: definition.liveness } : {}),
    ...(definition.retry !== undefined ? { retry: definition.retry } : {}),
    handler: () => Effect.fail(ArcpError.of("INTERNAL", "unreachable: prepare is replaced below"))
  })
  const prepare: Tool["prepare"] = (args) =>
    Either.match(check(args ?? {}), {
      onLeft: (reason) => Either.left(ArcpError.of("INVALID_ARGUMENT", `arguments of ${definition.name}: ${reason}`)),
      onRight: (decoded) => Either.right((ctx: Tools.ToolContext) => handle(decoded, ctx))
    })
  return { ...base, prepare, ...(resume !== undefined ? { resume: prepare } : {}) }
}

export interface PromiseServer {
  /** `ws://host:port` (for several transports, their addresses separated by spaces) */
  readonly address: string
  /** How many sessions are live. */
  sessionCount(): Promise<number>
  close(): Promise<void>
}

/** Options of `createServer`. */
export type CreateServerOptions = Omit<Server.Options, "transport" | "db" | "tools" | "permissionPolicy"> & {
  readonly host?: string
  readonly port?: number
  /** Where to serve instead of WebSocket on host:port: one transport or several (`Server.TransportOptions`). */
  readonly transport?: Server.Options["transport"]
  /** SQLite file for the event log (default `:memory:`). */
  readonly db?: string
  readonly tools?: ReadonlyArray<Tool>
  /** The least severe log level written (default "info"; "none" for silence). */
  readonly logLevel?: "none" | "error" | "warning" | "info" | "debug"
  /**
   * Decides each permission request (§15.4) before the client is asked: "grant", "deny",
   * "ask" (ask the client, the default without a policy), or an object with a lease length
   * or a reason. A policy that throws denies.
   */
  readonly permissionPolicy?: (question: PermissionQuestion) => Promise<PromiseDecision>
}

/** Starts a server, WebSocket unless `transport` says otherwise (see `Server.Options` for auth and limits). */
export const createServer = async (
  options: CreateServerOptions
): Promise<PromiseServer> => {
  const scope = Effect.runSync(Scope.make())
  const levels = {
    none: LogLevel.None,
    error: LogLevel.Error,
    warning: LogLevel.Warning,
    info: LogLevel.Info,
    debug: LogLevel.Debug
  } as const
  const layer = Layer.provide(
    Server.layer({
      ...options,
      permissionPolicy: options.permissionPolicy === undefined
        ? undefined
        : PermissionPolicy.fromPromise(options.permissionPolicy),
      db: options.db ?? ":memory:",
      tools: options.tools ?? [],
      transport: options.transport ?? { kind: "ws", host: options.host, port: options.port }
    }),
    Logger.minimumLogLevel(levels[options.logLevel ?? "info"])
  )
  const context = await run(Layer.buildWithScope(layer, scope))
  const address = (await run(Effect.provide(Acceptor, context))).address
  return {
    address,
    sessionCount: () =>
      run(Effect.provide(Effect.flatMap(Sessions, (s) => Effect.map(s.list, (l) => l.length)), context)),
    close: () => run(Scope.close(scope, Exit.void))
  }
}

/** Options of `attach`: `createServer`'s, without its own port. */
export type AttachOptions = Omit<CreateServerOptions, "transport" | "host" | "port"> & {
  /** The request path WebSocket clients connect to, e.g. "/arcp"; other upgrades are left to the application. */
  readonly path: string
}

/**
 * Mounts a runtime on an HTTP(S) server the application already runs, instead of a port of its own:
 * WebSocket upgrades of `path` become ARCP sessions. Takes a `node:http`/`node:https` server, what
 * Express's `app.listen()` or `@hono/node-server`'s `serve()` return, or a Fastify instance (its
 * `server`). `close()` ends the runtime and its sessions; the application's server keeps running.
 */
export const attach = (
  server: UpgradeSource | { readonly server: UpgradeSource },
  options: AttachOptions
): Promise<PromiseServer> => {
  const source = "server" in server ? server.server : server
  return createServer({ ...options, transport: { kind: "attach", server: source, path: options.path } })
}
