/**
 * The route table: every core message type maps to exactly one handler, so a
 * new type does not compile until it is routed or explicitly refused.
 */
import { Effect } from "effect"
import { ArcpError } from "../protocol/Errors.js"
import type { Message, MessageType } from "../protocol/Message.js"
import { now } from "../protocol/Timestamp.js"
import type { LiveSession } from "./LiveSession.js"
import type { Outbound } from "./Outbound.js"

/** What a handler may use: the session, and the connection's outbound path. */
export interface RouteContext {
  readonly session: LiveSession
  readonly outbound: Outbound
  /** Flushes and closes the connection. */
  readonly close: Effect.Effect<void>
}

/** A handler; an `ArcpError` failure is answered with `nack` (correlation_id = the message id). */
export type Route<K extends MessageType> = (message: Message<K>, ctx: RouteContext) => Effect.Effect<void, ArcpError>

export type RouteTable = { readonly [K in MessageType]: Route<K> }

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

/** The routes of the runtime core: liveness and session control; everything else refused or not built. */
export const coreRoutes: RouteTable = {
  // session control
  "session.open": () => Effect.fail(ArcpError.of("FAILED_PRECONDITION", "the session is already open")),
  "session.authenticate": (message, { session }) =>
    Effect.flatMap(session.answerRefresh(message), (matched) =>
      matched ? Effect.void : Effect.fail(ArcpError.of("FAILED_PRECONDITION", "no re-authentication with that challenge is pending"))),
  "session.close": (message, { close, outbound }) =>
    Effect.gen(function*() {
      yield* outbound.emit("ack", { ack_for: message.id, received_at: yield* now }, { correlation_id: message.id })
      yield* close
    }),
  ping: (message, { outbound }) =>
    Effect.flatMap(now, (received_at) =>
      outbound.emit("pong", { ack_for: message.id, received_at }, { correlation_id: message.id })),
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
  // not built yet (the matching capabilities are advertised false)
  cancel: notImplemented,
  interrupt: notImplemented,
  resume: notImplemented,
  backpressure: notImplemented,
  "checkpoint.create": notImplemented,
  "checkpoint.restore": notImplemented,
  "tool.invoke": notImplemented,
  "job.schedule": notImplemented,
  "workflow.start": notImplemented,
  "agent.delegate": notImplemented,
  "agent.handoff": notImplemented,
  "stream.open": notImplemented,
  "stream.chunk": notImplemented,
  "stream.close": notImplemented,
  "stream.error": notImplemented,
  "human.input.response": notImplemented,
  "human.choice.response": notImplemented,
  "permission.grant": notImplemented,
  "permission.deny": notImplemented,
  "lease.refresh": notImplemented,
  subscribe: notImplemented,
  unsubscribe: notImplemented,
  "artifact.put": notImplemented,
  "artifact.fetch": notImplemented,
  "artifact.release": notImplemented,
  "event.emit": notImplemented,
  log: notImplemented,
  metric: notImplemented,
  "trace.span": notImplemented
}
