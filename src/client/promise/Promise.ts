/**
 * `arcp/promise`: the same client and server for code that does not use
 * Effect. Every call is a Promise; streams are async iterators; failures
 * reject with the typed error (`ArcpError`, `ClientError`, `TransportError`).
 */
import { Chunk, Duration, Effect, Exit, Scope, Stream } from "effect"
import type { Capabilities } from "../../protocol/Capabilities.js"
import type { HeaderOptions } from "../../protocol/Envelope.js"
import type { ToolDescription } from "../../protocol/extensions/ToolDiscovery.js"
import type { MessageId, SessionId } from "../../protocol/Ids.js"
import type { Decoded, MessageType, PayloadOf } from "../../protocol/Message.js"
import type { ArtifactRef } from "../../protocol/messages/Artifacts.js"
import type { RuntimeIdentity } from "../../protocol/messages/Session.js"
import * as Stdio from "../../transport/Stdio.js"
import { type Connection } from "../../transport/Transport.js"
import * as ArcpClient from "../ArcpClient.js"
import type * as Client from "../Client.js"
import type { FetchArtifactOptions, PutArtifactOptions } from "../session/ClientArtifacts.js"
import type { SubscribeSince, SubscriptionFilter } from "../session/Subscription.js"
import { type ByteSource, byteStream, run } from "./Interop.js"

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
export type { ByteSource } from "./Interop.js"
export { jsonSchema } from "./Parameters.js"
export type { JsonSchema, Parameters, StandardSchemaV1 } from "./Parameters.js"
export * from "./PromiseDashboard.js"
export * from "./PromiseServer.js"

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
