/**
 * The messages of an open session: a run of them recorded in one log commit, duplicates answered by replay
 * (§6.4), the others checked (version, extension field names) and routed: core types through the route table,
 * extension types by the §21.3 rules.
 */
import { type Context, Effect, Either, type Scope, type Tracer } from "effect"
import { isOptional, speaksVersion } from "../../protocol/Envelope.js"
import { ArcpError } from "../../protocol/Errors.js"
import { classifyUnknownType, validateFieldName } from "../../protocol/Extensions.js"
import { type Decoded, isCore } from "../../protocol/Message.js"
import { type EventLog, loggedOf } from "../../store/EventLog.js"
import type * as Sidecar from "../artifacts/Sidecar.js"
import { type ExtensionTable, handlerFor } from "../extensions/Handlers.js"
import * as Handshake from "../Handshake.js"
import type { Owner } from "../jobs/Job.js"
import type { Jobs } from "../jobs/Jobs.js"
import type { LiveSession } from "../LiveSession.js"
import type * as Outbound from "../outbound/Outbound.js"
import { dispatch, type ExtensionRoute, type RouteTable } from "../Router.js"
import type { Settings } from "../RuntimeConfig.js"
import * as Spans from "../tracing/Spans.js"
import { nack } from "./Nacks.js"

export interface AcceptedContext {
  readonly settings: Settings
  readonly log: Context.Tag.Service<typeof EventLog>
  readonly jobs: Context.Tag.Service<typeof Jobs>
  readonly routes: RouteTable
  readonly extensionRoutes?: ReadonlyMap<string, ExtensionRoute> | undefined
  readonly extensions?: ExtensionTable | undefined
  readonly outbound: Outbound.Outbound
  /** Flushes and closes the connection. */
  readonly close: Effect.Effect<void>
  readonly sidecar: Sidecar.Sidecar
  /** The connection's scope. */
  readonly scope: Scope.Scope
  /** Whether this connection recorded the envelope. */
  recordedHere(envelope: { readonly id: string }): boolean
  /** The session's owner of jobs, built once. */
  ownerOf(session: LiveSession): Effect.Effect<Owner>
  /** The handshake's span, once there is one: messages that name no trace of their own join it. */
  sessionSpan(): Tracer.AnySpan | undefined
}

/** Handles one message of an open session (already recorded, not a duplicate). */
const handleAccepted = (
  ctx: AcceptedContext,
  session: LiveSession,
  sessionOwner: Owner,
  message: Decoded
): Effect.Effect<void> =>
  routeAccepted(ctx, session, sessionOwner, message).pipe(
    Spans.traced(`arcp ${message.type}`, {
      kind: "server",
      parent: Spans.parentOf(message, ctx.sessionSpan()),
      attributes: { "arcp.message_id": message.id, "arcp.session_id": session.id }
    }),
    Effect.catchAllCause((cause) => Effect.logError("failed to handle a message", cause))
  )

// A generator function made once (`fnUntraced`), not per call: each `function*` evaluated gets its own
// prototype and hidden class, made in the old generation, which keeps the call's objects alive past
// their use until the next full GC (issue 12: most of what the young generation promoted).
const routeAccepted = Effect.fnUntraced(function*(
  ctx: AcceptedContext,
  session: LiveSession,
  sessionOwner: Owner,
  message: Decoded
) {
  const { outbound, settings } = ctx
  yield* session.touch
  // a major version this runtime does not speak is refused, naming the one it does (minor 1.x versions pass)
  if (!speaksVersion(message.arcp)) {
    return yield* nack(outbound, Handshake.unsupportedVersion(message.arcp), message.id)
  }
  for (const key of Object.keys(message.extensions ?? {})) {
    const verdict = validateFieldName(key, { allowExperimental: settings.allowExperimentalExtensions })
    if (Either.isLeft(verdict)) {
      return yield* nack(outbound, ArcpError.of("INVALID_ARGUMENT", verdict.left), message.id)
    }
  }
  const route = {
    session,
    outbound,
    close: ctx.close,
    owner: sessionOwner,
    sidecar: ctx.sidecar,
    scope: ctx.scope,
    recordedHere: (envelope: { readonly id: string }) => ctx.recordedHere(envelope)
  }
  if (isCore(message)) {
    return yield* dispatch(ctx.routes, message, route).pipe(
      Effect.catchAll((error) => nack(outbound, error, message.id))
    )
  }
  const decision = classifyUnknownType(message.type, {
    advertised: session.capabilities.extensions ?? [],
    optional: isOptional(message)
  })
  switch (decision._tag) {
    case "Drop":
      return yield* Effect.logDebug(`dropped optional extension message ${message.type} (§21.3)`)
    case "Nack":
      return yield* nack(outbound, ArcpError.of(decision.code, decision.message), message.id)
    case "Route": {
      const extensionRoute = ctx.extensionRoutes?.get(message.type)
      if (extensionRoute !== undefined) {
        return yield* extensionRoute(message, route).pipe(
          Effect.catchAll((error) => nack(outbound, error, message.id))
        )
      }
      const handler = handlerFor(ctx.extensions ?? [], message.type)
      if (handler === undefined) {
        return yield* nack(outbound, ArcpError.of("UNIMPLEMENTED", `no handler for ${message.type}`), message.id)
      }
      return yield* handler.handle(message, route).pipe(
        Effect.catchAll((error) => nack(outbound, error, message.id))
      )
    }
  }
})

/** Records a run of accepted messages in one log commit, then handles them in order, skipping duplicates. */
export const handleBatch = Effect.fnUntraced(function*(
  ctx: AcceptedContext,
  session: LiveSession,
  batch: ReadonlyArray<{ readonly message: Decoded; readonly json: string }>
) {
  if (batch.length === 0) return
  const sessionOwner = yield* ctx.ownerOf(session)
  const envelopes = batch.map(({ json, message }) => loggedOf(message, session.id, json))
  // staged where the log can (SQLite): the verdicts now, the write in the commit of the first answer, which
  // is sent only after that commit (issue 12: one commit per echo, not two); else committed here, as a span
  const verdicts = yield* Effect.either(
    ctx.log.stageInbound !== undefined
      ? ctx.log.stageInbound(sessionOwner.principal, envelopes)
      : ctx.log.recordInbound(sessionOwner.principal, envelopes).pipe(
        Spans.traced("arcp log.record_inbound", {
          parent: ctx.sessionSpan(),
          attributes: { "arcp.count": batch.length }
        })
      )
  )
  if (Either.isLeft(verdicts)) {
    // not recorded, so not executed: the client may retry (UNAVAILABLE is retryable)
    const error = ArcpError.of("UNAVAILABLE", `cannot record the message: ${verdicts.left.message}`)
    return yield* Effect.forEach(batch, ({ message }) => nack(ctx.outbound, error, message.id), { discard: true })
  }
  for (let i = 0; i < batch.length; i++) {
    const entry = batch[i]
    if (entry === undefined) continue
    if (verdicts.right[i]?._tag === "Duplicate") yield* ctx.jobs.replay(entry.message.id, sessionOwner)
    else yield* handleAccepted(ctx, session, sessionOwner, entry.message)
  }
})
