/**
 * The route table: every core message type maps to exactly one handler, so a
 * new type does not compile until it is routed or explicitly refused.
 */
import { Effect, type Scope } from "effect"
import type { Context } from "effect"
import { make as makeEnvelope } from "../protocol/Envelope.js"
import { ArcpError } from "../protocol/Errors.js"
import type { ExtensionMessage, Message, MessageType } from "../protocol/Message.js"
import { now } from "../protocol/Timestamp.js"
import * as ArtifactRoutes from "./artifacts/ArtifactRoutes.js"
import type { Artifacts } from "./artifacts/Artifacts.js"
import type { Sidecar } from "./artifacts/Sidecar.js"
import { withRider } from "./connection/Riders.js"
import { resume, type ResumeServices } from "./durable/Resume.js"
import type { Subscriber, Subscriptions } from "./events/Subscriptions.js"
import type { HumanInput } from "./HumanInput.js"
import type { Owner } from "./jobs/Job.js"
import type { Jobs } from "./jobs/Jobs.js"
import type { LiveSession } from "./LiveSession.js"
import type { Outbound } from "./outbound/Outbound.js"
import type { Permissions } from "./permissions/Permissions.js"
import { LIST_TYPE, type Scheduler } from "./scheduler/Scheduler.js"
import type { Streams } from "./Streams.js"

/** What a handler may use: the session, the connection's outbound path, and the session as jobs see it. */
export interface RouteContext {
  readonly session: LiveSession
  readonly outbound: Outbound
  readonly owner: Owner
  /** Flushes and closes the connection. */
  readonly close: Effect.Effect<void>
  /** The connection's binary sidecar frames (§11.3, §16.2). */
  readonly sidecar: Sidecar
  /** The connection's scope: what a handler starts for the life of the connection (a resume's follower). */
  readonly scope: Scope.Scope
  /** Whether this connection recorded the envelope (wrote it itself). */
  readonly recordedHere: (envelope: { readonly id: string }) => boolean
}

/** The services the routes call. */
export interface RouteServices {
  readonly jobs: Context.Tag.Service<typeof Jobs>
  readonly humanInput: Context.Tag.Service<typeof HumanInput>
  readonly streams: Context.Tag.Service<typeof Streams>
  readonly artifacts: Context.Tag.Service<typeof Artifacts>
  /** The largest frame the runtime accepts, the bound of an inline artifact.fetch answer. */
  readonly maxFrameBytes: number
  readonly permissions: Context.Tag.Service<typeof Permissions>
  readonly scheduler: Context.Tag.Service<typeof Scheduler>
  /** Delegation, handoff (§14) and workflows (delegation/Receive, workflows/Workflows); absent: UNIMPLEMENTED. */
  readonly coordination?: {
    readonly delegate: Route<"agent.delegate">
    readonly handoff: Route<"agent.handoff">
    readonly workflowStart: Route<"workflow.start">
  } | undefined
  /** The event log, the feed and the settings `resume` replays with (§19). */
  readonly resume: ResumeServices
  /** Subscriptions (§13); absent, subscribe is answered UNIMPLEMENTED. */
  readonly subscriptions?: Context.Tag.Service<typeof Subscriptions> | undefined
}

/** A handler; an `ArcpError` failure is answered with `nack` (correlation_id = the message id). */
export type Route<K extends MessageType> = (message: Message<K>, ctx: RouteContext) => Effect.Effect<void, ArcpError>

export type RouteTable = { readonly [K in MessageType]: Route<K> }

/** A handler of an extension message type this runtime advertises (§21.2); failures are nacked like core ones. */
export type ExtensionRoute = (message: ExtensionMessage, ctx: RouteContext) => Effect.Effect<void, ArcpError>

/** The extension types this runtime handles, by type. */
export const makeExtensionRoutes = (
  { scheduler }: Pick<RouteServices, "scheduler">
): ReadonlyMap<string, ExtensionRoute> => new Map([[LIST_TYPE, (message, { owner }) => scheduler.list(message, owner)]])

/** Calls the route of `message.type`. */
export const dispatch = <K extends MessageType>(table: RouteTable, message: Message<K>, ctx: RouteContext) => {
  const route: Route<K> = table[message.type]
  return route(message, ctx)
}

/** For types only runtimes send: a client sending one made a mistake. */
export const runtimeOnly = (message: { readonly type: string }): Effect.Effect<never, ArcpError> =>
  Effect.fail(ArcpError.of("INVALID_ARGUMENT", `"${message.type}" is sent by runtimes, not by clients`))

/** For types this runtime does not implement (their capability is advertised false). */
export const notImplemented = (message: { readonly type: string }): Effect.Effect<never, ArcpError> =>
  Effect.fail(ArcpError.of("UNIMPLEMENTED", `"${message.type}" is not implemented by this runtime`))

const ignore = (): Effect.Effect<void> => Effect.void

/**
 * The connection's session as a subscriber: its id, its principal (with any observe grant) and its outbound
 * path; FAILED_PRECONDITION when the session did not negotiate `subscriptions` (§7: both sides must).
 */
const subscriberOf = ({ outbound, session }: RouteContext): Effect.Effect<Subscriber, ArcpError> =>
  session.capabilities.subscriptions !== true
    ? Effect.fail(ArcpError.of(
      "FAILED_PRECONDITION",
      "this session did not negotiate capabilities.subscriptions; offer it in session.open to subscribe"
    ))
    : Effect.map(session.principal, (principal) => ({ sessionId: session.id, principal, outbound }))

/** The route table of this runtime: session control, jobs, interrupts and human input; the rest refused or not built. */
export const makeRoutes = (
  {
    artifacts,
    coordination,
    humanInput,
    jobs,
    maxFrameBytes,
    permissions,
    resume: resumeServices,
    scheduler,
    streams,
    subscriptions
  }: RouteServices
): RouteTable => ({
  // session control
  "session.open": () => Effect.fail(ArcpError.of("FAILED_PRECONDITION", "the session is already open")),
  "session.authenticate": (message, { session }) =>
    Effect.flatMap(
      session.answerRefresh(message),
      (matched) =>
        matched
          ? Effect.void
          : Effect.fail(ArcpError.of("FAILED_PRECONDITION", "no re-authentication with that challenge is pending"))
    ),
  "session.close": Effect.fnUntraced(function*(message, { close, outbound, owner, session }) {
    // §9: open jobs are cancelled (default) or detached for a later resume, as the closer asks;
    // detached, the session stays resumable for the resume window, else it ends for good
    const dispose = message.payload.dispose_jobs ?? "cancel"
    if (dispose === "cancel") yield* session.markClosed
    yield* jobs.release(owner, dispose)
    // the answer carries the session's release: one commit for both
    const ack = yield* makeEnvelope("ack", { ack_for: message.id, received_at: yield* now }, {
      session_id: session.id,
      correlation_id: message.id
    })
    const rider = yield* session.letGo
    yield* outbound.send(rider === undefined ? ack : withRider(ack, rider))
    yield* close
  }),
  ping: (message, { outbound }) =>
    Effect.flatMap(
      now,
      (received_at) => outbound.emit("pong", { ack_for: message.id, received_at }, { correlation_id: message.id })
    ),
  // the client's own acknowledgements need no answer
  pong: ignore,
  ack: ignore,
  nack: (message) => Effect.logDebug(`client nack for ${message.payload.ack_for ?? "?"}: ${message.payload.code}`),
  // sent by runtimes only
  "session.challenge": runtimeOnly,
  "session.accepted": runtimeOnly,
  "session.unauthenticated": runtimeOnly,
  "session.rejected": runtimeOnly,
  "session.refresh": runtimeOnly,
  "session.evicted": runtimeOnly,
  "cancel.accepted": runtimeOnly,
  "cancel.refused": runtimeOnly,
  "tool.result": runtimeOnly,
  "tool.error": runtimeOnly,
  "job.accepted": runtimeOnly,
  "job.started": runtimeOnly,
  "job.progress": runtimeOnly,
  "job.heartbeat": runtimeOnly,
  "job.checkpoint": runtimeOnly,
  "job.completed": runtimeOnly,
  "job.failed": runtimeOnly,
  "job.cancelled": runtimeOnly,
  "workflow.complete": runtimeOnly,
  "human.input.request": runtimeOnly,
  "human.choice.request": runtimeOnly,
  "human.input.cancelled": runtimeOnly,
  "permission.request": runtimeOnly,
  "lease.granted": runtimeOnly,
  "lease.extended": runtimeOnly,
  "lease.revoked": runtimeOnly,
  "subscribe.accepted": runtimeOnly,
  "subscribe.event": runtimeOnly,
  "subscribe.closed": runtimeOnly,
  "artifact.ref": runtimeOnly,
  cancel: (message, { outbound, owner, session }) =>
    message.payload.target === "stream"
      ? streams.cancel(message, owner)
      // a schedule is cancelled as the job it was accepted as (its sch_ id came in job.accepted)
      : message.payload.target === "job" && scheduler.isSchedule(message.payload.target_id)
      ? scheduler.cancel(message, owner)
      : message.payload.target !== "session"
      ? jobs.cancel(message, owner)
      : message.payload.target_id !== session.id
      ? outbound.emit("cancel.refused", {
        target: "session",
        target_id: message.payload.target_id,
        reason: "not_found"
      }, { correlation_id: message.id })
      // §10.4: a cancelled session ends with session.evicted, after its jobs' terminals
      : Effect.gen(function*() {
        yield* outbound.emit("cancel.accepted", { target: "session", target_id: session.id }, {
          correlation_id: message.id
        })
        // the answer goes out before the (critical) eviction could overtake it
        yield* outbound.flush
        // all at once, each within the cancel's deadline_ms, with its reason
        yield* jobs.release(owner, "cancel", {
          reason: message.payload.reason,
          deadline_ms: message.payload.deadline_ms
        })
        // the terminals go out first: one queued behind its job's lower-priority events could be overtaken
        yield* outbound.flush
        // §10.4 spells this reason in lower case, unlike the canonical codes of other evictions (§8.5)
        yield* session.evict("cancelled", message.payload.reason ?? "the session was cancelled")
      }),
  interrupt: (message, { owner }) => jobs.interrupt(message, owner),
  "tool.invoke": (message, { owner }) => jobs.invoke(message, owner),
  "job.schedule": (message, { owner }) => scheduler.schedule(message, owner),
  // not built yet, from here on except human.input.response (the matching capabilities are advertised false)
  resume: (message, ctx) => resume(resumeServices, message, ctx),
  // §11.2: a signal, not a request: nothing answers it unless it names a stream this session cannot see
  backpressure: (message, { owner }) => streams.backpressure(message, owner),
  "checkpoint.create": notImplemented,
  "checkpoint.restore": notImplemented,
  "workflow.start": coordination?.workflowStart ?? notImplemented,
  "agent.delegate": coordination?.delegate ?? notImplemented,
  "agent.handoff": coordination?.handoff ?? notImplemented,
  "stream.open": notImplemented,
  "stream.chunk": notImplemented,
  "stream.close": notImplemented,
  "stream.error": notImplemented,
  // an accepted answer is acknowledged (our choice: the RFC gives no answer), so a client knows it landed
  "human.input.response": (message, { outbound, owner }) =>
    humanInput.respond(message, owner.principal).pipe(
      Effect.zipRight(now),
      Effect.flatMap((received_at) =>
        outbound.emit("ack", { ack_for: message.id, received_at }, { correlation_id: message.id })
      )
    ),
  "human.choice.response": (message, { outbound, owner }) =>
    humanInput.respondChoice(message, owner.principal).pipe(
      Effect.zipRight(now),
      Effect.flatMap((received_at) =>
        outbound.emit("ack", { ack_for: message.id, received_at }, { correlation_id: message.id })
      )
    ),
  // §15.4, §15.5: lease.granted answers a grant and lease.extended a refresh; a deny is acknowledged
  "permission.grant": (message, { owner, session }) => permissions.grant(message, owner, session.leaseExpiresAt),
  "permission.deny": (message, { outbound, owner }) =>
    permissions.deny(message, owner).pipe(
      Effect.zipRight(now),
      Effect.flatMap((received_at) =>
        outbound.emit("ack", { ack_for: message.id, received_at }, { correlation_id: message.id })
      )
    ),
  "lease.refresh": (message, { owner, session }) => permissions.refresh(message, owner, session.leaseExpiresAt),
  // §13: observers on any connection of an authorized principal
  subscribe: (message, ctx) =>
    subscriptions === undefined
      ? notImplemented(message)
      : Effect.flatMap(subscriberOf(ctx), (subscriber) => subscriptions.subscribe(message, subscriber)),
  unsubscribe: (message, ctx) =>
    subscriptions === undefined
      ? notImplemented(message)
      : Effect.flatMap(subscriberOf(ctx), (subscriber) => subscriptions.unsubscribe(message, subscriber)),
  "artifact.put": ArtifactRoutes.put(artifacts),
  "artifact.fetch": ArtifactRoutes.fetch(artifacts, maxFrameBytes),
  "artifact.release": ArtifactRoutes.release(artifacts),
  "event.emit": notImplemented,
  log: notImplemented,
  metric: notImplemented,
  "trace.span": notImplemented
})
