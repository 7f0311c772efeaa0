/**
 * Delegation to peer runtimes (RFC §14), the delegating side: the named
 * remotes of the runtime's configuration, and `delegate`, which opens a
 * session to one over the project's own client, sends `agent.delegate`, and
 * returns the delegated job's outcome. Interrupting the caller (the
 * delegating job was cancelled) cancels the delegated job. The delegated work
 * stays in the caller's trace (R17.1-3): the client's envelopes take their
 * trace from the current span, and `context.trace_id` names it too.
 */
import type { Duration, Scope } from "effect"
import { Context, Effect, Layer, Option, Schema, Tracer } from "effect"
import { dialUrl } from "../../client/ArcpClient.js"
import * as Client from "../../client/Client.js"
import { ArcpError } from "../../protocol/Errors.js"
import type { PayloadOf } from "../../protocol/Message.js"
import { VERSION } from "../../Version.js"
import { RuntimeConfig } from "../RuntimeConfig.js"

/** A peer runtime: where it is, the bearer token this runtime presents, and the fingerprint it must have (§8.3). */
export const Remote = Schema.Struct({
  url: Schema.String.pipe(Schema.minLength(1)),
  token: Schema.optional(Schema.String),
  fingerprint: Schema.optional(Schema.String)
})
export type Remote = typeof Remote.Type

/** The remotes file of `arcp serve --remotes`: `{ "<name>": { url, token?, fingerprint? } }`. */
export const RemotesFile = Schema.Record({
  key: Schema.String.pipe(Schema.pattern(/^[A-Za-z0-9_.-]{1,64}$/)),
  value: Remote
})

/** What a tool asks for with `ctx.delegate`. */
export interface DelegateRequest {
  /** The configured remote to delegate to. */
  readonly remote: string
  /** The tool or agent of the remote that does the work. */
  readonly target: string
  readonly task: string
  /** What the target runs with (default `{task}`). */
  readonly arguments?: Record<string, unknown> | undefined
  /** Permissions the delegated work may keep, as far as the remote's policy allows. */
  readonly permissionsInherited?: ReadonlyArray<string> | undefined
  /** An artifact the delegated work may read (§14 shared_memory_ref). */
  readonly sharedMemoryRef?: string | undefined
}

export class Remotes extends Context.Tag("arcp/Remotes")<Remotes, {
  readonly names: ReadonlyArray<string>
  /** Runs the request on its remote; its result, or the remote's error (UNAVAILABLE when it cannot be reached). */
  readonly delegate: (
    request: DelegateRequest,
    onAccepted?: (remoteJobId: string) => Effect.Effect<void>
  ) => Effect.Effect<unknown, ArcpError>
  /** The remote pinned to `fingerprint`: the only runtimes this one hands work to (§14 handoff). */
  readonly withFingerprint: (fingerprint: string | undefined) => Option.Option<string>
  /**
   * Hands `work` to remote `name` (`agent.handoff` addressed to `identity`, carrying the work) and
   * follows the job it becomes there: its result or error; interrupting the caller cancels it.
   */
  readonly handOver: (
    name: string,
    identity: PayloadOf<"agent.handoff">["to_runtime"],
    work: NonNullable<PayloadOf<"agent.handoff">["job"]> & { readonly reason?: string | undefined },
    onAccepted?: (remoteJobId: string) => Effect.Effect<void>
  ) => Effect.Effect<unknown, ArcpError>
}>() {}

const unreachable = (name: string, message: string) =>
  ArcpError.of("UNAVAILABLE", `remote runtime "${name}" cannot be reached: ${message}`, { details: { remote: name } })

const notConfigured = (remotes: ReadonlyMap<string, Remote>, name: string) =>
  ArcpError.of(
    "NOT_FOUND",
    `no remote runtime named "${name}" is configured (${
      remotes.size === 0 ? "none are" : `known: ${[...remotes.keys()].join(", ")}`
    })`,
    { details: { remote: name } }
  )

/** The remotes service for `remotes`; `cancelDeadline` bounds the wait for a cancelled delegated job. */
export const make = (
  remotes: ReadonlyMap<string, Remote>,
  options: { readonly cancelDeadline: Duration.Duration; readonly timeout?: Duration.DurationInput }
): Context.Tag.Service<typeof Remotes> => {
  const asUnreachable = (name: string) => <A>(effect: Effect.Effect<A, ArcpError | Client.ClientError, Scope.Scope>) =>
    Effect.mapError(effect, (e) => (e._tag === "ClientError" ? unreachable(name, e.message) : e))

  /** A session to remote `name`, pinned to its fingerprint, for the scope. */
  const sessionTo = Effect.fnUntraced(function*(name: string) {
    const remote = remotes.get(name)
    if (remote === undefined) return yield* notConfigured(remotes, name)
    const connection = yield* dialUrl(remote.url).pipe(Effect.mapError((e) => unreachable(name, e.message)))
    return yield* Client.connect(connection, {
      credentials: remote.token !== undefined ? { scheme: "bearer", token: remote.token } : { scheme: "none" },
      client: { kind: "arcp-runtime", version: VERSION },
      ...(remote.fingerprint !== undefined ? { pinFingerprint: remote.fingerprint } : {}),
      ...(options.timeout !== undefined ? { timeout: options.timeout } : {})
    }).pipe(asUnreachable(name))
  })

  /** The remote job's outcome; interrupted, the remote job is cancelled and given its deadline to end. */
  const follow = (name: string, job: Client.JobHandle, onAccepted?: (remoteJobId: string) => Effect.Effect<void>) =>
    Effect.gen(function*() {
      if (onAccepted !== undefined) yield* onAccepted(job.jobId)
      return yield* job.outcome.pipe(
        asUnreachable(name),
        Effect.onInterrupt(() =>
          job.cancel({ reason: "the delegating job was cancelled" }).pipe(
            Effect.zipRight(Effect.ignore(job.outcome)),
            Effect.timeout(options.cancelDeadline),
            Effect.ignore
          )
        )
      )
    })

  return Remotes.of({
    names: [...remotes.keys()],
    delegate: (request, onAccepted) =>
      Effect.gen(function*() {
        const session = yield* sessionTo(request.remote)
        const span = yield* Effect.serviceOption(Tracer.ParentSpan)
        const job = yield* session.delegate(request.target, request.task, {
          ...(request.arguments !== undefined ? { arguments: request.arguments } : {}),
          context: {
            ...(Option.isSome(span) ? { trace_id: span.value.traceId } : {}),
            ...(request.permissionsInherited !== undefined
              ? { permissions_inherited: [...request.permissionsInherited] }
              : {}),
            ...(request.sharedMemoryRef !== undefined ? { shared_memory_ref: request.sharedMemoryRef } : {})
          }
        }).pipe(asUnreachable(request.remote))
        return yield* follow(request.remote, job, onAccepted)
      }).pipe(Effect.scoped, Effect.withSpan(`arcp delegate ${request.remote}/${request.target}`, { kind: "client" })),

    withFingerprint: (fingerprint) => {
      if (fingerprint === undefined) return Option.none()
      for (const [name, remote] of remotes) if (remote.fingerprint === fingerprint) return Option.some(name)
      return Option.none()
    },

    handOver: (name, identity, work, onAccepted) =>
      Effect.gen(function*() {
        const session = yield* sessionTo(name)
        const { reason, ...job } = work
        const handle = yield* session.handOver(identity, job, reason !== undefined ? { reason } : {}).pipe(
          asUnreachable(name)
        )
        return yield* follow(name, handle, onAccepted)
      }).pipe(Effect.scoped, Effect.withSpan(`arcp handoff ${name}/${work.tool}`, { kind: "client" }))
  })
}

/** The remotes of the runtime's settings. */
export const layer: Layer.Layer<Remotes, never, RuntimeConfig> = Layer.effect(
  Remotes,
  Effect.map(RuntimeConfig, (settings) => make(settings.remotes, { cancelDeadline: settings.cancelDeadline }))
)

/** Reads a remotes file's JSON text, or says what is wrong with it. */
export const parse = (text: string): Effect.Effect<ReadonlyMap<string, Remote>, string> =>
  Effect.try({ try: (): unknown => JSON.parse(text), catch: () => "it is not JSON" }).pipe(
    Effect.flatMap((json) =>
      Schema.decodeUnknown(RemotesFile)(json).pipe(
        Effect.mapError(() =>
          "expected { \"<name>\": { \"url\": \"ws://...\", \"token\"?: \"...\", \"fingerprint\"?: \"sha256:...\" } }"
        )
      )
    ),
    Effect.map((record) => new Map(Object.entries(record)))
  )
