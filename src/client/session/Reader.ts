/**
 * Reads a transport's frames for a client session: each message to its job, its waiting request and
 * the session's subscribers; sidecar frames to their stream or fetch (§11.3, §16.2); and the runtime's
 * control messages acted on: nacks, re-authentication (§8.4), eviction.
 */
import { Deferred, Effect, Either, Option, PubSub, Stream } from "effect"
import { ArcpError, type ErrorPayload } from "../../protocol/Errors.js"
import { type Decoded, decodeJson, isCore } from "../../protocol/Message.js"
import { decode as decodeSidecar } from "../../protocol/Sidecar.js"
import type { Inbox } from "../../transport/SidecarTransfers.js"
import type { Connection, Incoming } from "../../transport/Transport.js"
import { ClientError, type ConnectOptions } from "../ClientApi.js"
import { answerChallenge } from "../Credentials.js"
import type * as JobRouter from "./JobRouter.js"
import type { Requests } from "./Requests.js"
import type { SessionState } from "./State.js"
import * as StreamChunks from "./StreamChunks.js"
import * as Subscription from "./Subscription.js"

/** What the reader hands messages to. */
export interface ReaderDeps {
  readonly state: SessionState
  readonly requests: Requests
  readonly jobs: ReturnType<typeof JobRouter.make<ClientError>>
  /** Artifact bytes arriving as sidecar frames, keyed by the fetch's id (§16.2). */
  readonly inbox: Inbox
  /** The session's messages, with a `Resumed` mark where a reconnect resumed it (seen only by subscriptions). */
  readonly inbound: PubSub.PubSub<Decoded | Subscription.Resumed>
  readonly credentials: ConnectOptions["credentials"]
  /** Whether a dropped transport is redialled (then an eviction for a restart is waited out). */
  readonly canRedial: boolean
  /** Ends the session with `error`. */
  readonly end: (error: ClientError) => Effect.Effect<void>
}

const errorOf = (payload: ErrorPayload) => ArcpError.fromPayload(payload)

/** The reader of a session: `readFrom` reads one transport until it ends, and says why it ended. */
export const make = (deps: ReaderDeps) => {
  const { canRedial, credentials, end, inbound, inbox, jobs, requests, state } = deps

  /** What the session and the runtime's control messages change: nacks, re-authentication, eviction. */
  const onControl = Effect.fnUntraced(function*(message: Decoded) {
    if (message.session_id !== undefined) state.lastSeen = message.id
    jobs.route(message)
    const correlation = message.correlation_id
    if (correlation !== undefined) {
      // a nack after a fetch was answered: its sidecar transfer failed midway
      if (isCore(message) && message.type === "nack") yield* inbox.fail(correlation, errorOf(message.payload))
      const answer = requests.take(correlation)
      if (answer !== undefined) {
        yield* isCore(message) && message.type === "nack"
          ? Deferred.fail(answer, errorOf(message.payload))
          : Deferred.succeed(answer, message)
      }
    }
    if (isCore(message)) {
      if (message.type === "session.refresh" && message.payload.challenge_id !== undefined) {
        // §8.4: answer with a fresh session.authenticate; the runtime evicts us otherwise
        const challengeId = message.payload.challenge_id
        yield* answerChallenge(credentials, message.payload.type ?? "", message.payload.params).pipe(
          Effect.flatMap((response) => state.write("session.authenticate", { challenge_id: challengeId, response })),
          Effect.catchAll((e) => Effect.logWarning(`cannot re-authenticate: ${e.message}`))
        )
      }
      if (message.type === "session.evicted") {
        // a runtime going down for a restart lets us come back: the supervisor reconnects
        if (message.payload.allow_resume === true && message.payload.reason === "UNAVAILABLE" && canRedial) {
          return yield* PubSub.publish(inbound, message)
        }
        state.resumable = false
        yield* end(
          new ClientError({
            reason: "Evicted",
            message: message.payload.message ?? message.payload.reason,
            code: message.payload.reason
          })
        )
      }
    }
    yield* PubSub.publish(inbound, message)
    if (state.resumeId !== undefined && correlation === state.resumeId) {
      state.resumeId = undefined
      if (message.type === "ack") yield* PubSub.publish(inbound, Subscription.Resumed)
    }
  })

  /**
   * One message from the runtime. Every message but a control one (job events, answers) is handled in
   * place, without an Effect of its own: they are most of what a client reads (issue 12).
   */
  const onMessage = (message: Decoded): Effect.Effect<void> => {
    const type = message.type
    if (type === "nack" || type === "session.refresh" || type === "session.evicted") return onControl(message)
    if (message.session_id !== undefined) state.lastSeen = message.id
    jobs.route(message)
    // a rejection sent unprompted during the handshake (the runtime's deadline for it passed) answers it
    const correlation = message.correlation_id ??
      (type === "session.rejected" ? state.handshakeId : undefined)
    if (correlation !== undefined) requests.settle(message, correlation)
    // unbounded: an offer is a publish (false only once the session's scope closed it)
    inbound.unsafeOffer(message)
    if (state.resumeId !== undefined && correlation === state.resumeId) {
      state.resumeId = undefined
      if (type === "ack") inbound.unsafeOffer(Subscription.Resumed)
    }
    return Effect.void
  }

  // binary stream chunks arriving as sidecar frames, reassembled in order (§11.3)
  const chunks = StreamChunks.makeAssembler()
  const handOn = (messages: ReadonlyArray<Decoded>) => Effect.forEach(messages, onMessage, { discard: true })

  /** One frame from the runtime. */
  const onFrame = (frame: Incoming): Effect.Effect<void> => {
    if (frame._tag === "Binary") {
      const sidecar = decodeSidecar(frame.data)
      if (typeof sidecar === "string") return Effect.logWarning(`ignored a binary frame: ${sidecar}`)
      if (sidecar.kind === "stream") return Effect.flatMap(chunks.onFrame(sidecar), handOn)
      return Effect.flatMap(
        inbox.accept(sidecar),
        (outcome) =>
          outcome === "delivered" ? Effect.void : Effect.logDebug(`ignored a sidecar frame for ${sidecar.key}`)
      )
    }
    if (frame._tag !== "Text") {
      return Effect.logDebug(`ignored ${frame._tag} frame`)
    }
    const decoded = decodeJson(frame.text)
    if (Either.isLeft(decoded)) {
      return Effect.logWarning(`undecodable message from the runtime: ${decoded.left.message}`)
    }
    // a message outside any stream is handed on as it is (the assembler holds only stream chunks)
    return decoded.right.stream_id === undefined
      ? onMessage(decoded.right)
      : Effect.flatMap(chunks.onMessage(decoded.right), handOn)
  }

  /**
   * Reads one transport's frames, in order, until it ends, a chunk at a time. Through `incoming`, not
   * `receive`: a caller's wrapper of a `Connection` (a spy, a filter) overrides `incoming`.
   */
  const readFrom = (conn: Connection): Effect.Effect<ClientError> => {
    // pulled in a loop: `runForEachChunk` costs a sink's channel on top of the stream's, per chunk
    const reading = Effect.scoped(Effect.gen(function*() {
      const pull = yield* Stream.toPull(conn.incoming)
      while (true) {
        const frames = yield* Effect.catchAll(
          pull,
          (e) => Option.isNone(e) ? Effect.succeed(undefined) : Effect.fail(e.value)
        )
        if (frames === undefined) {
          return
        }
        for (const frame of frames) {
          yield* onFrame(frame)
        }
      }
    }))
    return Effect.match(reading, {
      onFailure: (e) => new ClientError({ reason: "Transport", message: e.message }),
      onSuccess: () => new ClientError({ reason: "Closed", message: "the connection closed" })
    })
  }

  return { readFrom }
}
