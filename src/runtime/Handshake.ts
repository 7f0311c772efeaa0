/**
 * The four-message handshake (RFC §8.1): `session.open` → `session.challenge`
 * or `session.accepted`; `session.authenticate` → accepted or rejected.
 * Capabilities are negotiated here (§7); failures become `session.rejected`.
 * The handshake is logged, credentials redacted, under the new session id once there is one.
 */
import { Clock, Effect, Either, type FiberRefs, Option, type Scope } from "effect"
import type { Context } from "effect"
import { annotateLogsUntilClose, onClose } from "../internal/OnClose.js"
import { type Capabilities, negotiate } from "../protocol/Capabilities.js"
import { ARCP_MAJOR, ARCP_VERSION, make as makeEnvelope, speaksVersion } from "../protocol/Envelope.js"
import { ArcpError } from "../protocol/Errors.js"
import { validateExtensionName } from "../protocol/Extensions.js"
import { type ChallengeId, makeChallengeId, makeSessionId, type MessageId, type SessionId } from "../protocol/Ids.js"
import { type Decoded, encodeUnchecked, type Message } from "../protocol/Message.js"
import { fromMillis } from "../protocol/Timestamp.js"
import { type EventLog, loggedOf, type SessionRecord } from "../store/EventLog.js"
import type { Peer } from "../transport/Tls.js"
import type { Authenticator, Challenge, Principal } from "./auth/Auth.js"
import * as DurableSessions from "./durable/DurableSessions.js"
import type { DurableContext } from "./durable/DurableSessions.js"
import type { Part, Recorder } from "./events/Recorder.js"
import type { Heartbeats } from "./internal/Heartbeats.js"
import * as LiveSession from "./LiveSession.js"
import type { Outbound } from "./outbound/Outbound.js"
import { trustOf } from "./permissions/Trust.js"
import { type Settings, supportedCapabilities } from "./RuntimeConfig.js"
import type { EvictionReason, Sessions } from "./Sessions.js"

/** A handshake envelope (credentials redacted), kept until the session id it is logged under exists. */
export interface Exchanged {
  readonly direction: "in" | "out"
  readonly envelope: Decoded
  readonly json: string
}

/** What stands in the log for a credential: the log file outlives the secrecy of a token. */
const REDACTED = "[redacted]"

const openForLog = (message: Message<"session.open">): Exchanged => {
  const { auth } = message.payload
  const envelope: Decoded = auth.token === undefined
    ? message
    : { ...message, payload: { ...message.payload, auth: { ...auth, token: REDACTED } } }
  return { direction: "in", envelope, json: encodeUnchecked(envelope) }
}

const authenticateForLog = (message: Message<"session.authenticate">): Exchanged => {
  const envelope: Decoded = { ...message, payload: { ...message.payload, response: REDACTED } }
  return { direction: "in", envelope, json: encodeUnchecked(envelope) }
}

/** Where a connection stands in the handshake. */
export type Phase =
  | { readonly _tag: "AwaitingOpen" }
  | {
    readonly _tag: "Challenged"
    readonly challengeId: ChallengeId
    readonly challenge: Challenge
    readonly capabilities: Capabilities
    /** The earlier session that session.open named, to take back (§9). */
    readonly resumes: SessionId | undefined
    /** session.open and session.challenge, for the log. */
    readonly transcript: ReadonlyArray<Exchanged>
  }
  | { readonly _tag: "Open"; readonly session: LiveSession.LiveSession }
  | { readonly _tag: "Closed" }

export interface HandshakeContext {
  readonly settings: Settings
  readonly authenticator: Context.Tag.Service<typeof Authenticator>
  readonly sessions: Context.Tag.Service<typeof Sessions>
  readonly log: Context.Tag.Service<typeof EventLog>
  /** Records (then publishes) the handshake's outbound envelopes once the session exists. */
  readonly recorder: Context.Tag.Service<typeof Recorder>
  /** Writes an envelope the handshake committed itself (`session.accepted`, with its transcript): not recorded again. */
  readonly sendCommitted: (envelope: Decoded) => Effect.Effect<void>
  /** Told the principal of the session about to be accepted, before anything of it is recorded. */
  readonly opened: (principal: string) => Effect.Effect<void>
  readonly outbound: Outbound
  /** The runtime's one timer for the sessions' idle and lease deadlines. */
  readonly deadlines: Heartbeats
  /** Flushes and closes the connection. */
  readonly close: Effect.Effect<void>
  /** The transport has native binary frames: sidecar encoding is offered (§11.3). */
  readonly binary?: boolean | undefined
  /** Durable sessions (§9): where sessions are recorded, so a later connection can take them back. */
  readonly durable?: DurableContext | undefined
  /** Runs when the session is evicted, before `session.evicted` (its subscriptions get `subscribe.closed`, §13.4). */
  readonly onEvict?: ((sessionId: SessionId, reason: EvictionReason) => Effect.Effect<void>) | undefined
  /** What the transport proved about the peer (its verified TLS client certificate, for mtls). */
  readonly peer?: Peer | undefined
  /** The connection's fiber refs, for the session's timers (LiveSession). */
  readonly fiberRefs?: FiberRefs.FiberRefs | undefined
}

/** The refusal of a protocol version this runtime does not speak: session.rejected on open, nack afterwards. */
export const unsupportedVersion = (version: string): ArcpError =>
  ArcpError.of(
    "UNIMPLEMENTED",
    `protocol version ${version} is not supported: this runtime speaks ARCP ${ARCP_VERSION} (any ${ARCP_MAJOR}.x)`,
    { details: { supported: ARCP_VERSION } }
  )

const reject = (ctx: HandshakeContext, error: ArcpError, correlationId: MessageId): Effect.Effect<Phase> =>
  ctx.outbound.emit("session.rejected", error.toPayload(), { correlation_id: correlationId, priority: "critical" })
    .pipe(
      Effect.zipRight(Effect.logInfo(`session rejected: ${error.code} ${error.message}`)),
      Effect.zipRight(ctx.close),
      Effect.as({ _tag: "Closed" } as const)
    )

/**
 * The handshake as one group for the log, in wire order: its transcript under the new session (inbound
 * messages are committed before they take effect), the durable session record, and `session.accepted`.
 */
const openingGroup = (
  principal: string,
  sessionId: SessionId,
  transcript: ReadonlyArray<Exchanged>,
  record: SessionRecord | undefined,
  answer: Decoded
): ReadonlyArray<Part> => [
  ...transcript.map(({ direction, envelope, json }): Part =>
    direction === "in"
      ? { _tag: "Inbound", principal, envelopes: [loggedOf(envelope, sessionId, json)] }
      : { _tag: "Outbound", entries: [{ envelope, sessionId, principal, json }] }
  ),
  ...(record === undefined ? [] : [{ _tag: "SaveSession", session: record } as const]),
  { _tag: "Outbound", entries: [{ envelope: answer, sessionId, principal, json: encodeUnchecked(answer) }] }
]

/**
 * The session a `session.open` naming `resumes` takes back (§9): allowed for its own principal
 * within the resume window; a live connection still holding it here is evicted first.
 */
const takeBack = Effect.fnUntraced(function*(ctx: HandshakeContext, principal: Principal, resumes: SessionId) {
  if (ctx.durable === undefined) {
    return yield* ArcpError.of("FAILED_PRECONDITION", "this runtime keeps no sessions past their connection")
  }
  const record = yield* DurableSessions.takeBack(ctx.durable, resumes, principal.id)
  const holder = yield* ctx.sessions.get(resumes)
  if (Option.isSome(holder)) yield* holder.value.evict("ABORTED", "the session was taken over by a new connection")
  return record
})

/** Whether the opening commit is done, for the session (made here, not where the transcript is in scope). */
const recordedOf = (opening: { readonly recorded: boolean }) => () => opening.recorded

/** The session's eviction hook, likewise. */
const evictionOf = (onEvict: HandshakeContext["onEvict"], id: SessionId) =>
  onEvict === undefined ? undefined : (reason: EvictionReason) => onEvict(id, reason)

const accept = Effect.fnUntraced(function*(
  ctx: HandshakeContext,
  principal: Principal,
  capabilities: Capabilities,
  correlationId: MessageId,
  transcript: ReadonlyArray<Exchanged>,
  resumes: SessionId | undefined
) {
  const taken = resumes === undefined ? undefined : yield* Effect.either(takeBack(ctx, principal, resumes))
  if (taken !== undefined && Either.isLeft(taken)) return yield* reject(ctx, taken.left, correlationId)
  // --max-sessions: refused before anything is recorded (register checks again, atomically)
  const room = yield* Effect.either(ctx.sessions.admit)
  if (Either.isLeft(room)) return yield* reject(ctx, room.left, correlationId)
  const id = resumes ?? (yield* makeSessionId)
  yield* ctx.opened(principal.id)
  const now = yield* Clock.currentTimeMillis
  const expiresAt = LiveSession.leaseEnd(now, ctx.settings, principal)
  const createdAt = taken !== undefined && Either.isRight(taken) ? taken.right.created_at : now
  const trustLevel = trustOf(principal, ctx.settings)
  const durable = ctx.durable !== undefined && DurableSessions.enabled(ctx.settings) ? ctx.durable : undefined
  const opening = { recorded: false }
  const session = yield* LiveSession.start({
    id,
    principal,
    capabilities,
    settings: ctx.settings,
    authenticator: ctx.authenticator,
    outbound: ctx.outbound,
    deadlines: ctx.deadlines,
    close: ctx.close,
    // (the session's closures made outside this generator: they would keep its context, the transcript included)
    durable: durable === undefined ? undefined : { ctx: durable, createdAt, recorded: recordedOf(opening) },
    onEvict: evictionOf(ctx.onEvict, id),
    fiberRefs: ctx.fiberRefs
  })
  // registered before anything is committed: a session refused here (--max-sessions) leaves no trace in the log
  const registered = yield* Effect.either(ctx.sessions.register(session))
  if (Either.isLeft(registered)) return yield* reject(ctx, registered.left, correlationId)
  yield* onClose(ctx.sessions.unregister(id, session))
  const answer = yield* makeEnvelope("session.accepted", {
    session_id: id,
    runtime: ctx.settings.identity,
    capabilities,
    lease: { expires_at: fromMillis(expiresAt) },
    trust_level: trustLevel
  }, { session_id: id, correlation_id: correlationId })
  // the transcript, the session record and the answer in one commit; then the answer is written as committed
  const record = durable === undefined ? undefined : DurableSessions.heldRecord(durable, {
    sessionId: id,
    principal: principal.id,
    capabilities,
    leaseExpiresAt: expiresAt,
    trustLevel,
    createdAt
  }, now)
  const committed = yield* Effect.either(
    ctx.recorder.recordGroup(openingGroup(principal.id, id, transcript, record, answer))
  )
  if (Either.isLeft(committed)) {
    // not recorded, so not accepted: UNAVAILABLE is retryable
    return yield* reject(
      ctx,
      ArcpError.of("UNAVAILABLE", `cannot record the handshake: ${committed.left.message}`),
      correlationId
    )
  }
  opening.recorded = true
  yield* ctx.outbound.setDefaults({ session_id: id })
  // binary stream chunks go as sidecar frames when both ends agreed on them (§11.3)
  if (ctx.binary && (capabilities.binary_encoding ?? []).includes("sidecar")) yield* ctx.outbound.useSidecarChunks
  // every later log line of this connection names the session
  yield* annotateLogsUntilClose("session_id", id)
  yield* ctx.sendCommitted(answer)
  yield* Effect.logInfo(
    `session ${resumes === undefined ? "accepted" : "taken back"} for ${principal.id} (${principal.scheme})`
  )
  return { _tag: "Open", session } as const
})

/** Handles `session.open`: version, capabilities, then the authenticator's verdict. */
export const open = Effect.fnUntraced(function*(
  ctx: HandshakeContext,
  message: Message<"session.open">
) {
  const { auth, capabilities: offered } = message.payload
  if (!speaksVersion(message.arcp)) return yield* reject(ctx, unsupportedVersion(message.arcp), message.id)
  // §21.1: bare x- names are for transport-internal experiments; a long-lived runtime refuses them
  const refused = (offered.extensions ?? []).flatMap((name) =>
    Either.isLeft(validateExtensionName(name, { allowExperimental: ctx.settings.allowExperimentalExtensions }))
      ? [name]
      : []
  )
  if (refused.length > 0) {
    return yield* reject(
      ctx,
      ArcpError.of(
        "INVALID_ARGUMENT",
        `capabilities.extensions names bare x- extensions, refused here (§21.1): ${refused.join(", ")}`,
        {
          details: { refused }
        }
      ),
      message.id
    )
  }
  const supported = supportedCapabilities(ctx.settings, {
    anonymous: ctx.authenticator.allowsAnonymous,
    binary: ctx.binary
  })
  const { capabilities, unsupported } = negotiate(offered, supported, offered.required ?? [])
  if (unsupported.length > 0) {
    return yield* reject(
      ctx,
      ArcpError.of("UNIMPLEMENTED", `required capabilities not supported: ${unsupported.join(", ")}`, {
        details: { unsupported }
      }),
      message.id
    )
  }
  const step = yield* ctx.authenticator.begin({
    scheme: auth.scheme,
    token: auth.token,
    anonymousNegotiated: capabilities.anonymous === true,
    fingerprint: message.payload.client.fingerprint,
    peer: ctx.peer
  }).pipe(Effect.either)
  if (step._tag === "Left") return yield* reject(ctx, step.left, message.id)
  const opened = openForLog(message)
  if (step.right._tag === "Accept") {
    return yield* accept(ctx, step.right.principal, capabilities, message.id, [opened], message.session_id)
  }
  const { challenge } = step.right
  const challengeId = yield* makeChallengeId
  const asked = yield* makeEnvelope("session.challenge", {
    challenge_id: challengeId,
    type: challenge.type,
    params: challenge.params
  }, {
    correlation_id: message.id
  })
  yield* ctx.outbound.send(asked)
  const transcript: ReadonlyArray<Exchanged> = [opened, {
    direction: "out",
    envelope: asked,
    json: encodeUnchecked(asked)
  }]
  return {
    _tag: "Challenged",
    challengeId,
    challenge,
    capabilities,
    resumes: message.session_id,
    transcript
  } as const
})

/** Handles `session.authenticate` answering the pending challenge. */
export const authenticate = (
  ctx: HandshakeContext,
  phase: Extract<Phase, { readonly _tag: "Challenged" }>,
  message: Message<"session.authenticate">
): Effect.Effect<Phase, never, Scope.Scope> =>
  !speaksVersion(message.arcp)
    ? reject(ctx, unsupportedVersion(message.arcp), message.id)
    : message.payload.challenge_id !== phase.challengeId
    ? reject(ctx, ArcpError.of("UNAUTHENTICATED", "the answer names a different challenge"), message.id)
    : phase.challenge.verify(message.payload.response).pipe(
      Effect.matchEffect({
        onFailure: (error) => reject(ctx, error, message.id),
        onSuccess: (principal) =>
          accept(
            ctx,
            principal,
            phase.capabilities,
            message.id,
            [...phase.transcript, authenticateForLog(message)],
            phase.resumes
          )
      })
    )
