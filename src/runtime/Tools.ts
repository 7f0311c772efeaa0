/**
 * Tools (RFC §6.3, §10): a registry users fill with typed handlers, and the
 * `ToolContext` each handler gets to report progress, logs, metrics,
 * liveness and checkpoints, to stream (§11), to ask a human (§12), and to ask
 * for a permission (§15.4).
 */
import type { Effect, Stream } from "effect"
import { Context, Either, JSONSchema, Layer, Option, Schema } from "effect"
import { ArcpError } from "../protocol/Errors.js"
import type { CheckpointId, JobId, SessionId, StreamId } from "../protocol/Ids.js"
import type { ArtifactRef } from "../protocol/messages/Artifacts.js"
import type { TrustLevel } from "../protocol/messages/Common.js"
import type { LeaseGranted } from "../protocol/messages/Permissions.js"
import type { StreamKind } from "../protocol/messages/Streaming.js"
import type { LogLevel } from "../protocol/messages/Telemetry.js"
import { describeParseError } from "./internal/Issues.js"
import type { RetryPolicy } from "./internal/Retry.js"

export type { RetryPolicy } from "./internal/Retry.js"

/** What `write` takes for each kind of §11.1: bytes for binary, text for text, a thought (§11.4), JSON otherwise. */
export interface ChunkOf {
  readonly text: string
  readonly binary: Uint8Array
  /** A plain string is an unredacted `assistant_thought`; redacted reasoning still sends a chunk (§11.4). */
  readonly thought: string | { readonly content: string; readonly redacted?: boolean | undefined }
  readonly event: unknown
  readonly log: unknown
  readonly metric: unknown
}

/** How a handler opens a stream (`ctx.stream`). */
export interface StreamOptions<K extends StreamKind> {
  readonly kind: K
  /** Sent on stream.open; binary streams default to application/octet-stream, carried by every chunk (§11.3). */
  readonly content_type?: string | undefined
}

/**
 * The handler's end of one stream. After the stream's terminal (its own
 * close/fail, a client `cancel`, the job's end) every call fails: CANCELLED
 * when the client cancelled it, FAILED_PRECONDITION otherwise. The job itself
 * is not cancelled with its stream.
 */
export interface StreamWriter<K extends StreamKind> {
  readonly id: StreamId
  readonly kind: K
  /** One stream.chunk with the next `sequence` (0, 1, ...); binary chunks are base64 (§11.3). */
  readonly write: (chunk: ChunkOf[K]) => Effect.Effect<void, ArcpError>
  /** stream.close with `total_chunks`. */
  readonly close: (reason?: string) => Effect.Effect<void, ArcpError>
  /** stream.error with the error's payload. */
  readonly fail: (error: ArcpError) => Effect.Effect<void, ArcpError>
}

/** What a handler can do while it runs. Every call is also a pause point: it waits while an interrupt is pending (§10.5). */
export interface ToolContext {
  readonly jobId: JobId
  readonly sessionId: SessionId
  readonly principal: string
  /** Which attempt of the job this is: 1, then 2, 3... when the tool's retry policy re-runs it (§10.1). */
  readonly attempt: number
  /** `job.progress` (§10.1); separate from heartbeats (§10.3). */
  readonly progress: (progress: {
    readonly percent?: number
    readonly message?: string
    readonly current?: number
    readonly total?: number
  }) => Effect.Effect<void>
  /** A `log` event with this job's id (§17.2). */
  readonly log: (level: LogLevel, message: string, attributes?: Record<string, unknown>) => Effect.Effect<void>
  /** A `metric` event; reserved names must use their unit, others must be namespaced (§17.3.1). */
  readonly metric: (
    name: string,
    value: number,
    unit: string,
    dims?: Record<string, string | number | boolean>
  ) => Effect.Effect<void, ArcpError>
  /** Reports liveness, for tools whose `liveness` is "reported" (the watchdog of §10.3). */
  readonly heartbeat: Effect.Effect<void>
  /** Records a checkpoint (`job.checkpoint`) and returns its id. */
  readonly checkpoint: (snapshot?: unknown) => Effect.Effect<CheckpointId>
  /** Waits while an interrupt is pending; returns the guidance of the last interrupt, if any. */
  readonly pausePoint: Effect.Effect<Option.Option<string>>
  /**
   * Opens a stream of `kind` (§11.1) tied to this job and returns its writer. A stream
   * still open when the job ends is closed (success) or errored before the job's terminal.
   * FAILED_PRECONDITION once the job has ended.
   */
  readonly stream: <K extends StreamKind>(options: StreamOptions<K>) => Effect.Effect<StreamWriter<K>, ArcpError>
  /**
   * Asks a human for input validated by `responseSchema` (JSON Schema), moving
   * the job to `blocked` until the answer (§12.1). Fails DEADLINE_EXCEEDED on expiry.
   */
  readonly askHuman: (request: {
    readonly prompt: string
    readonly responseSchema: Record<string, unknown>
    readonly default?: unknown
    readonly expiresInSeconds?: number
  }) => Effect.Effect<unknown, ArcpError>
  /**
   * Asks a human to pick one of `options` (`human.choice.request`, §12.2), moving
   * the job to `blocked` until the answer; resolves with the chosen option id.
   * Fails as `askHuman` does.
   */
  readonly askChoice: (request: {
    readonly prompt: string
    readonly options: ReadonlyArray<{ readonly id: string; readonly label?: string; readonly description?: string }>
    readonly default?: string
    readonly expiresInSeconds?: number
  }) => Effect.Effect<string, ArcpError>
  /**
   * The permission challenge of §15.4: `permission` on `resource` for `operation`.
   * Resolves with a lease at once when the principal holds a covering one, else
   * as the runtime's policy decides — by default the job is `blocked` on a
   * `permission.request` until the client grants (the lease) or denies
   * (PERMISSION_DENIED, as is an unanswered request past its deadline).
   */
  readonly requestPermission: (request: PermissionAsk) => Effect.Effect<Lease, ArcpError>
  /** Checks a lease before an operation under it: PERMISSION_DENIED once it expired or was revoked (R15.5-1). */
  readonly checkLease: (leaseId: string) => Effect.Effect<Lease, ArcpError>
  /**
   * Stores bytes (or a byte stream, never held whole) as an artifact of this job's
   * session and principal (§16) and returns its ref, to place in the result — as
   * `value`, or as the terminal's `result_ref` by returning `resultRef(ref)`.
   * RESOURCE_EXHAUSTED past the size limit or quota.
   */
  readonly putArtifact: (
    data: Uint8Array | Stream.Stream<Uint8Array, ArcpError>,
    mediaType: string,
    options?: { readonly ttlSeconds?: number | undefined }
  ) => Effect.Effect<ArtifactRef, ArcpError>
}

/** A granted lease (the `lease.granted` payload, §15.5). */
export type Lease = typeof LeaseGranted.Type

/** A handler's result carried as the terminal's `result_ref` (§16.1, tool.result `{result_ref}`), not `value`. */
export class ResultRef {
  constructor(readonly ref: ArtifactRef) {}
}

/** Returns `ref` as the job's `result_ref`. */
export const resultRef = (ref: ArtifactRef): ResultRef => new ResultRef(ref)

/** What `requestPermission` asks for: the `permission.request` payload of §15.4, camelCased like `askHuman`'s. */
export interface PermissionAsk {
  readonly permission: string
  readonly resource: string
  readonly operation: string
  readonly reason?: string | undefined
  readonly requestedLeaseSeconds?: number | undefined
}

/** A registered tool: argument decoding happens before the job is accepted. */
export interface Tool {
  readonly name: string
  readonly description?: string | undefined
  /** False for tools that must not be cancelled (`cancel` is refused with not_cancellable). */
  readonly cancellable: boolean
  /** "runtime": the runtime heartbeats for it; "reported": it must call `ctx.heartbeat` (the watchdog watches). */
  readonly liveness: "runtime" | "reported"
  /** Re-runs the handler, under the same job id, after failures with retryable codes (§10.1, §18.3). */
  readonly retry?: RetryPolicy | undefined
  /** JSON Schema of the arguments, for discovery (`arcpx.arcp.tools.v1`); absent: any JSON object. */
  readonly argumentsSchema?: Record<string, unknown> | undefined
  /** JSON Schema of the result value, when the tool declares one. */
  readonly resultSchema?: Record<string, unknown> | undefined
  /** The least trust level a session needs to invoke it (§15.3); an invoke below it is refused PERMISSION_DENIED. */
  readonly minimumTrust?: TrustLevel | undefined
  /** Decodes the arguments; the handler to run, or INVALID_ARGUMENT. */
  readonly prepare: (args: unknown) => Either.Either<(ctx: ToolContext) => Effect.Effect<unknown, ArcpError>, ArcpError>
}

/** Defines a tool whose arguments are decoded by `parameters` and handed typed to `handler`. */
export const make = <A, I>(definition: {
  readonly name: string
  readonly description?: string
  readonly parameters: Schema.Schema<A, I>
  readonly handler: (args: A, ctx: ToolContext) => Effect.Effect<unknown, ArcpError>
  readonly cancellable?: boolean
  readonly liveness?: "runtime" | "reported"
  readonly retry?: RetryPolicy
  /** The result's schema, published by discovery (not enforced). */
  readonly result?: Schema.Schema.Any
  /** A JSON Schema of the arguments to publish instead of the one generated from `parameters`. */
  readonly argumentsSchema?: Record<string, unknown>
  /** A JSON Schema of the result to publish (wins over `result`). */
  readonly resultSchema?: Record<string, unknown>
  readonly minimumTrust?: TrustLevel
}): Tool => {
  const decode = Schema.decodeUnknownEither(definition.parameters, { errors: "all" })
  return {
    name: definition.name,
    description: definition.description,
    argumentsSchema: definition.argumentsSchema ?? jsonSchemaOf(definition.parameters),
    resultSchema: definition.resultSchema ??
      (definition.result !== undefined ? jsonSchemaOf(definition.result) : undefined),
    cancellable: definition.cancellable ?? true,
    liveness: definition.liveness ?? "runtime",
    ...(definition.retry !== undefined ? { retry: definition.retry } : {}),
    minimumTrust: definition.minimumTrust,
    prepare: (args) =>
      Either.match(decode(args ?? {}), {
        onLeft: (e) =>
          Either.left(
            ArcpError.of(
              "INVALID_ARGUMENT",
              // clipped: the offending value is never echoed whole
              `arguments of ${definition.name}: ${describeParseError(e).slice(0, 1000)}`
            )
          ),
        onRight: (decoded) => Either.right((ctx: ToolContext) => definition.handler(decoded, ctx))
      })
  }
}

/**
 * The JSON Schema of an Effect Schema (its encoded side, what travels on the wire), or
 * undefined when the schema has no JSON Schema form (a declaration without the annotation).
 */
export const jsonSchemaOf = (schema: Schema.Schema.Any): Record<string, unknown> | undefined => {
  try {
    return { ...JSONSchema.make(schema) }
  } catch {
    return undefined
  }
}

/** Arguments schema for tools that take any JSON object. */
export const AnyArguments = Schema.Record({ key: Schema.String, value: Schema.Unknown })

/** The tools a runtime offers. */
export class ToolRegistry extends Context.Tag("arcp/ToolRegistry")<ToolRegistry, {
  readonly get: (name: string) => Option.Option<Tool>
  readonly list: ReadonlyArray<Tool>
}>() {}

/** A registry of the given tools; a later tool with the same name replaces an earlier one. */
export const layer = (tools: ReadonlyArray<Tool>): Layer.Layer<ToolRegistry> =>
  Layer.sync(ToolRegistry, () => {
    const byName = new Map(tools.map((t) => [t.name, t]))
    return ToolRegistry.of({ get: (name) => Option.fromNullable(byName.get(name)), list: [...byName.values()] })
  })

/** Turns any failure of a Promise-based handler into an `ArcpError` (INTERNAL unless it already is one). */
export const fromPromiseFailure = (e: unknown): ArcpError =>
  e instanceof ArcpError ? e : ArcpError.of("INTERNAL", e instanceof Error ? e.message : String(e))
