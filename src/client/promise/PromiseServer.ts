/**
 * The server half of `arcp/promise`: `tool` (a Promise handler with its context as Promises and an AbortSignal),
 * `createServer` and `attach`. Re-exported by `Promise`.
 */
import { Effect, Either, Exit, Layer, Logger, LogLevel, Option, Schema, Scope, Stream } from "effect"
import { ArcpError, type ArcpError as WireError } from "../../protocol/Errors.js"
import type { ArtifactRef } from "../../protocol/messages/Artifacts.js"
import type { StreamKind } from "../../protocol/messages/Streaming.js"
import type { LogLevel as WireLogLevel } from "../../protocol/messages/Telemetry.js"
import * as PermissionPolicy from "../../runtime/permissions/PermissionPolicy.js"
import type { PermissionQuestion, PromiseDecision } from "../../runtime/permissions/PermissionPolicy.js"
import * as Server from "../../runtime/Server.js"
import { Sessions } from "../../runtime/Sessions.js"
import type { ChunkOf, StreamOptions, StreamWriter } from "../../runtime/Streams.js"
import * as Tools from "../../runtime/Tools.js"
import type { Lease, PermissionAsk, Tool } from "../../runtime/Tools.js"
import { Acceptor } from "../../transport/Transport.js"
import type { UpgradeSource } from "../../transport/WebSocketUpgrade.js"
import { type Parameters, validator } from "./Parameters.js"

import { type ByteSource, byteStream, run } from "./Interop.js"

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
