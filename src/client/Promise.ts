/**
 * `arcp/promise`: the same client and server for code that does not use
 * Effect. Every call is a Promise; streams are async iterators; failures
 * reject with the typed error (`ArcpError`, `ClientError`, `TransportError`).
 */
import { Cause, Duration, Effect, Exit, Layer, Logger, LogLevel, type Schema, Scope, Stream } from "effect"
import type { Capabilities } from "../protocol/Capabilities.js"
import type { HeaderOptions } from "../protocol/Envelope.js"
import type { ArcpError as WireError } from "../protocol/Errors.js"
import type { ToolDescription } from "../protocol/extensions/ToolDiscovery.js"
import type { MessageId, SessionId } from "../protocol/Ids.js"
import type { Decoded, MessageType, PayloadOf } from "../protocol/Message.js"
import type { RuntimeIdentity } from "../protocol/messages/Session.js"
import type { StreamKind } from "../protocol/messages/Streaming.js"
import type { LogLevel as WireLogLevel } from "../protocol/messages/Telemetry.js"
import * as PermissionPolicy from "../runtime/permissions/PermissionPolicy.js"
import type { PermissionQuestion, PromiseDecision } from "../runtime/permissions/PermissionPolicy.js"
import * as Server from "../runtime/Server.js"
import { Sessions } from "../runtime/Sessions.js"
import type { ChunkOf, StreamOptions, StreamWriter } from "../runtime/Streams.js"
import * as Tools from "../runtime/Tools.js"
import type { Lease, PermissionAsk, Tool } from "../runtime/Tools.js"
import * as Stdio from "../transport/Stdio.js"
import { Acceptor, type Connection } from "../transport/Transport.js"
import * as ArcpClient from "./ArcpClient.js"
import type * as Client from "./Client.js"

export { ArcpError } from "../protocol/Errors.js"
export type { ToolDescription } from "../protocol/extensions/ToolDiscovery.js"
export type {
  PermissionDecision as PolicyDecision,
  PermissionQuestion
} from "../runtime/permissions/PermissionPolicy.js"
export type { PromiseDecision } from "../runtime/permissions/PermissionPolicy.js"
export type { Lease, PermissionAsk } from "../runtime/Tools.js"
export { ClientError } from "./Client.js"
export { jwtSigner } from "./Credentials.js"
export type { Credentials } from "./Credentials.js"

/** Runs an effect, rejecting with its typed failure (not a FiberFailure wrapper). */
const run = <A, E>(effect: Effect.Effect<A, E>): Promise<A> =>
  Effect.runPromiseExit(effect).then((exit) => {
    if (Exit.isSuccess(exit)) return exit.value
    throw Cause.squash(exit.cause)
  })

/** A job started by `invoke`: its events as an async iterator, its result as a Promise. */
export interface PromiseJob {
  readonly jobId: string
  /** The job's events up to and including its terminal event (iterate once). */
  readonly events: AsyncIterable<Decoded>
  /** The result value; rejects with the job's `ArcpError` (CANCELLED when cancelled). */
  readonly result: Promise<unknown>
  /** The runtime's answer: `cancel.accepted` or `cancel.refused`. */
  cancel(options?: { readonly reason?: string; readonly deadline_ms?: number }): Promise<Decoded>
  interrupt(prompt?: string): Promise<void>
}

export interface PromiseSession {
  readonly id: SessionId
  readonly runtime: RuntimeIdentity
  readonly capabilities: Capabilities
  /** The session's trust level from session.accepted (§15.3). */
  readonly trustLevel: string | undefined
  send<T extends MessageType>(type: T, payload: PayloadOf<T>, options?: HeaderOptions): Promise<MessageId>
  request<T extends MessageType>(type: T, payload: PayloadOf<T>, options?: HeaderOptions): Promise<Decoded>
  /** Invokes a tool as a job; rejects with the nack's `ArcpError` when the runtime refuses it. */
  invoke(tool: string, args?: Record<string, unknown>, options?: Client.InvokeOptions): Promise<PromiseJob>
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
  /** Round-trip time in milliseconds. */
  ping(): Promise<number>
  /** Every message from now on, until the session closes or the iterator is returned. */
  messages(): AsyncIterable<Decoded>
  close(): Promise<void>
}

/** Where the runtime is: a WebSocket URL, an open `Connection` (a memory pair...), or a pair of pipes (a child's stdout/stdin). */
export type Target = string | Connection | Stdio.Options

/** Connects (over WebSocket for a URL, stdio for pipes, or the given connection) and opens a session. */
export const connect = async (
  target: Target,
  options: Client.ConnectOptions
): Promise<PromiseSession> => {
  const scope = Effect.runSync(Scope.make())
  const session = await run(
    ArcpClient.connect(typeof target === "string" || "incoming" in target ? target : Stdio.make(target), options).pipe(
      Scope.extend(scope)
    )
  ).catch(async (e: unknown) => {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    throw e
  })
  return {
    id: session.id,
    runtime: session.runtime,
    capabilities: session.capabilities,
    trustLevel: session.trustLevel,
    send: (type, payload, header) => run(session.send(type, payload, header)),
    request: (type, payload, header) => run(session.request(type, payload, header)),
    ping: () => run(Effect.map(session.ping, Duration.toMillis)),
    tools: (listOptions) => run(session.tools(listOptions)),
    invoke: async (tool, args, invokeOptions) => {
      // the job's resources live with the session
      const job = await run(Scope.extend(session.invoke(tool, args, invokeOptions), scope))
      const result = run(job.outcome)
      result.catch(() => undefined) // callers who only iterate events must not see an unhandled rejection
      return {
        jobId: job.jobId,
        events: Stream.toAsyncIterable(job.events),
        result,
        cancel: (cancelOptions) => run(job.cancel(cancelOptions)),
        interrupt: (prompt) => run(job.interrupt(prompt))
      }
    },
    respond: (requestId, value, respondedBy) => run(session.respond(requestId, value, respondedBy)),
    respondChoice: (requestId, choiceId, respondedBy) => run(session.respondChoice(requestId, choiceId, respondedBy)),
    grant: (request, grantOptions) => run(session.grant(request, grantOptions)),
    deny: (request, reason) => run(session.deny(request, reason)),
    refreshLease: (leaseId, seconds) => run(session.refreshLease(leaseId, seconds)),
    messages: () => {
      const iteratorScope = Effect.runSync(Scope.make())
      const stream = Effect.runSync(Scope.extend(session.subscribe, iteratorScope)).pipe(
        Stream.interruptWhen(session.ended),
        Stream.ensuring(Scope.close(iteratorScope, Exit.void))
      )
      return Stream.toAsyncIterable(stream)
    },
    close: () => run(session.close().pipe(Effect.zipRight(Scope.close(scope, Exit.void))))
  }
}

/** What a Promise-based tool handler gets: the `ToolContext` as Promises, plus an AbortSignal fired on cancellation. */
export interface PromiseToolContext {
  readonly jobId: string
  readonly sessionId: string
  readonly principal: string
  /** Aborted when the job is cancelled: pass it to fetch() and friends. */
  readonly signal: AbortSignal
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

/** Defines a tool with an async handler; `parameters` (an effect/Schema) decodes its arguments before the job is accepted. */
export const tool = <A, I>(definition: {
  readonly name: string
  readonly description?: string
  readonly parameters: Schema.Schema<A, I>
  readonly cancellable?: boolean
  readonly liveness?: "runtime" | "reported"
  /** JSON Schemas published by tool discovery (`arguments` defaults to the one generated from `parameters`). */
  readonly argumentsSchema?: Record<string, unknown>
  readonly resultSchema?: Record<string, unknown>
  readonly handler: (args: A, ctx: PromiseToolContext) => Promise<unknown>
}): Tool =>
  Tools.make({
    name: definition.name,
    ...(definition.argumentsSchema !== undefined ? { argumentsSchema: definition.argumentsSchema } : {}),
    ...(definition.resultSchema !== undefined ? { resultSchema: definition.resultSchema } : {}),
    ...(definition.description !== undefined ? { description: definition.description } : {}),
    parameters: definition.parameters,
    ...(definition.cancellable !== undefined ? { cancellable: definition.cancellable } : {}),
    ...(definition.liveness !== undefined ? { liveness: definition.liveness } : {}),
    handler: (args, ctx) =>
      fromAbortable((signal) =>
        definition.handler(args, {
          jobId: ctx.jobId,
          sessionId: ctx.sessionId,
          principal: ctx.principal,
          signal,
          progress: (p) => run(ctx.progress(p)),
          log: (level, message, attributes) => run(ctx.log(level, message, attributes)),
          metric: (name, value, unit, dims) => run(ctx.metric(name, value, unit, dims)),
          heartbeat: () => run(ctx.heartbeat),
          checkpoint: (snapshot) => run(ctx.checkpoint(snapshot)),
          askHuman: (request) => run(ctx.askHuman(request)),
          stream: (options) => run(Effect.map(ctx.stream(options), promiseWriter)),
          askChoice: (request) => run(ctx.askChoice(request)),
          requestPermission: (request) => run(ctx.requestPermission(request)),
          checkLease: (leaseId) => run(ctx.checkLease(leaseId))
        })
      )
  })

export interface PromiseServer {
  /** `ws://host:port` */
  readonly address: string
  /** How many sessions are live. */
  sessionCount(): Promise<number>
  close(): Promise<void>
}

/** Starts a WebSocket server (see `Server.Options` for auth and limits). */
export const createServer = async (
  options: Omit<Server.Options, "transport" | "db" | "tools" | "permissionPolicy"> & {
    readonly host?: string
    readonly port?: number
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
      transport: { kind: "ws", host: options.host, port: options.port }
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
