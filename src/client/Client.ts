/**
 * The client: `connect` runs the handshake over any `Connection` (answering
 * challenges, pinning the runtime fingerprint, §8.1–§8.3) and yields a scoped
 * `Session` whose methods are Effects and Streams with typed errors.
 */
import {
  Clock,
  Deferred,
  Duration,
  Effect,
  Either,
  ExecutionStrategy,
  Exit,
  Fiber,
  FiberId,
  Option,
  PubSub,
  Schema,
  Scope,
  Stream
} from "effect"
import { withMillis } from "../internal/Now.js"
import { type HeaderOptions, make as makeEnvelope } from "../protocol/Envelope.js"
import { ArcpError, type ErrorPayload } from "../protocol/Errors.js"
import { isExtensionType } from "../protocol/Extensions.js"
import { LIST_TYPE, LISTED_TYPE, ListedPayload, TOOLS_EXTENSION } from "../protocol/extensions/ToolDiscovery.js"
import { JobId, type MessageId, type SessionId } from "../protocol/Ids.js"
import {
  type Decoded,
  decodeJson,
  encodeUnchecked,
  isCore,
  isMessageType,
  type Message,
  type MessageType,
  type PayloadOf
} from "../protocol/Message.js"
import { decode as decodeSidecar } from "../protocol/Sidecar.js"
import { makeInbox } from "../transport/SidecarTransfers.js"
import type { Connection, Incoming } from "../transport/Transport.js"
import { VERSION } from "../Version.js"
import { answerChallenge, openToken } from "./Credentials.js"
import { DEFAULT_POLICY, delayBefore, type ReconnectPolicy } from "./Reconnect.js"
import * as Answers from "./session/Answers.js"
import * as ClientArtifacts from "./session/ClientArtifacts.js"
import * as ClientJobs from "./session/ClientJobs.js"
import * as JobRouter from "./session/JobRouter.js"
import * as StreamChunks from "./session/StreamChunks.js"
import * as Subscription from "./session/Subscription.js"

import { ClientError, type ConnectOptions, type ExtensionOptions, type Session } from "./ClientApi.js"

export * from "./ClientApi.js"

/** The terminal event types of a job (§6.3). */
export const terminalTypes = JobRouter.terminalTypes

/** The bytes of a binary `stream.chunk`, however it travelled (base64 or sidecar frames, §11.3). */
export const chunkBytes = StreamChunks.chunkBytes

/** The envelope of an extension message, refusing a core or unnamespaced type before anything is sent. */
const extensionEnvelope = (
  type: string,
  payload: { readonly [key: string]: unknown },
  options: ExtensionOptions = {}
): Effect.Effect<Decoded, ArcpError> => {
  const { optional, ...header } = options
  return isMessageType(type)
    ? Effect.fail(ArcpError.of("INVALID_ARGUMENT", `"${type}" is a core message type: use send or request`))
    : !isExtensionType(type)
    ? Effect.fail(ArcpError.of("INVALID_ARGUMENT", `"${type}" is not an extension type (arcpx.<vendor>.<name>.v<n>)`))
    : makeEnvelope(
      type,
      payload,
      optional === true ? { ...header, extensions: { ...header.extensions, optional } } : header
    )
}

const errorOf = (payload: ErrorPayload) => ArcpError.fromPayload(payload)
const decodeListed = Schema.decodeUnknown(ListedPayload)

/**
 * Runs the handshake on `connection` and returns the open session (closed with the scope). With
 * `redial`, a dropped transport is replaced by a new one and the session resumed (`options.reconnect`).
 */
export const connect = (
  connection: Connection,
  options: ConnectOptions,
  redial?: Effect.Effect<Connection, unknown, Scope.Scope>
): Effect.Effect<Session, ArcpError | ClientError, Scope.Scope> =>
  Effect.gen(function*() {
    // the transport in use: replaced when a dropped one is redialled (see the supervisor below)
    let current = connection
    // while reconnecting, application sends wait; the handshake of the new transport goes past
    const up = yield* Effect.makeLatch(true)
    // mirrors `up`: a send while the transport is up goes straight to it, without the latch's steps
    let isUp = true
    let closing = false
    // false once the runtime ended the session for good (an eviction that does not allow a resume)
    let resumable = true
    let lastSeen: MessageId | undefined
    const transportError = (e: { readonly message: string }) =>
      new ClientError({ reason: "Transport", message: e.message })
    /** Sends a frame on the current transport, once it is up. */
    const sendFrame = (frame: string | Uint8Array) =>
      Effect.mapError(
        // while reconnecting, the transport is read once the latch opens: a new one has replaced it by then
        Effect.suspend(() =>
          isUp ? current.send(frame) : Effect.zipRight(up.await, Effect.suspend(() => current.send(frame)))
        ),
        transportError
      )
    /** Sends a frame at once, reconnecting or not (the new transport's own handshake). */
    const sendNow = (frame: string) => Effect.suspend(() => current.send(frame)).pipe(Effect.mapError(transportError))
    // what the artifact code sees: whichever transport is current
    const live: Connection = {
      get label() {
        return current.label
      },
      get binary() {
        return current.binary
      },
      incoming: Stream.suspend(() => current.incoming),
      send: (frame) => Effect.zipRight(up.await, Effect.suspend(() => current.send(frame))),
      close: Effect.suspend(() => current.close),
      drain: Effect.suspend(() => current.drain ?? Effect.void)
    }
    const timeout = Duration.decode(options.timeout ?? "30 seconds")
    const timeoutMillis = Duration.toMillis(timeout)
    // the session's messages, with a `Resumed` mark where a reconnect resumed it (seen only by subscriptions)
    const inbound = yield* PubSub.unbounded<Decoded | Subscription.Resumed>()
    // the id of the `resume` sent after a reconnect: its ack is where the mark goes, in message order
    let resumeId: string | undefined
    // requests awaiting their first correlated answer, with their deadlines (see the sweeper below)
    const pending = new Map<
      string,
      { readonly answer: Deferred.Deferred<Decoded, ArcpError | ClientError>; readonly deadline: number }
    >()
    const ended = yield* Deferred.make<ClientError>()
    // artifact bytes arriving as sidecar frames, keyed by the fetch's id (§16.2)
    const inbox = yield* makeInbox()
    // the session's id, once accepted: every later envelope names it (§6.1.1)
    let sessionId: SessionId | undefined
    /** `envelope` naming the session, once there is one. */
    const inSession = (envelope: Decoded): Decoded =>
      sessionId === undefined || envelope.session_id === sessionId ? envelope : { ...envelope, session_id: sessionId }
    /** Sends `envelope` on the current transport, naming the session. */
    const sendEnvelope = (envelope: Decoded) => Effect.suspend(() => sendFrame(encodeUnchecked(inSession(envelope))))

    const write = <T extends MessageType>(type: T, payload: PayloadOf<T>, header: HeaderOptions = {}) =>
      Effect.gen(function*() {
        const envelope = yield* makeEnvelope(type, payload, {
          ...(sessionId !== undefined ? { session_id: sessionId } : {}),
          ...header
        })
        yield* sendFrame(encodeUnchecked(envelope))
        return envelope.id
      })

    const end = (error: ClientError) =>
      Effect.gen(function*() {
        yield* Deferred.succeed(ended, error)
        for (const p of pending.values()) yield* Deferred.fail(p.answer, error)
        pending.clear()
        yield* jobs.failAll(error)
      })

    // the invokes' job handles: job events are routed straight to them by the reader
    const jobs = JobRouter.make<ClientError>()

    const credentials = options.credentials
    /** What the session and the runtime's control messages change: nacks, re-authentication, eviction. */
    const onControl = (message: Decoded) =>
      Effect.gen(function*() {
        if (message.session_id !== undefined) lastSeen = message.id
        jobs.route(message)
        const correlation = message.correlation_id
        if (correlation !== undefined) {
          // a nack after a fetch was answered: its sidecar transfer failed midway
          if (isCore(message) && message.type === "nack") yield* inbox.fail(correlation, errorOf(message.payload))
          const waiter = pending.get(correlation)
          if (waiter !== undefined) {
            pending.delete(correlation)
            yield* isCore(message) && message.type === "nack"
              ? Deferred.fail(waiter.answer, errorOf(message.payload))
              : Deferred.succeed(waiter.answer, message)
          }
        }
        if (isCore(message)) {
          if (message.type === "session.refresh" && message.payload.challenge_id !== undefined) {
            // §8.4: answer with a fresh session.authenticate; the runtime evicts us otherwise
            const challengeId = message.payload.challenge_id
            yield* answerChallenge(credentials, message.payload.type ?? "", message.payload.params).pipe(
              Effect.flatMap((response) => write("session.authenticate", { challenge_id: challengeId, response })),
              Effect.catchAll((e) => Effect.logWarning(`cannot re-authenticate: ${e.message}`))
            )
          }
          if (message.type === "session.evicted") {
            // a runtime going down for a restart lets us come back: the supervisor reconnects
            if (message.payload.allow_resume === true && message.payload.reason === "UNAVAILABLE" && canRedial) {
              return yield* PubSub.publish(inbound, message)
            }
            resumable = false
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
        if (resumeId !== undefined && correlation === resumeId) {
          resumeId = undefined
          if (message.type === "ack") yield* PubSub.publish(inbound, Subscription.Resumed)
        }
      })

    /**
     * One message from the runtime: routed to its job, its waiting request and the session's
     * subscribers. Every other message (job events, answers) is handled in place, without an Effect of
     * its own: they are most of what a client reads (issue 12).
     */
    const onMessage = (message: Decoded): Effect.Effect<void> => {
      const type = message.type
      if (type === "nack" || type === "session.refresh" || type === "session.evicted") return onControl(message)
      if (message.session_id !== undefined) lastSeen = message.id
      jobs.route(message)
      const correlation = message.correlation_id
      if (correlation !== undefined) {
        const waiter = pending.get(correlation)
        if (waiter !== undefined) {
          pending.delete(correlation)
          Deferred.unsafeDone(waiter.answer, Exit.succeed(message))
        }
      }
      // unbounded: an offer is a publish (false only once the session's scope closed it)
      inbound.unsafeOffer(message)
      if (resumeId !== undefined && correlation === resumeId) {
        resumeId = undefined
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
    const readFrom = (conn: Connection) => {
      // pulled in a loop: `runForEachChunk` costs a sink's channel on top of the stream's, per chunk
      const reading = Effect.scoped(Effect.gen(function*() {
        const pull = yield* Stream.toPull(conn.incoming)
        while (true) {
          const frames = yield* Effect.catchAll(pull, (e) =>
            Option.isNone(e) ? Effect.succeed(undefined) : Effect.fail(e.value))
          if (frames === undefined) {
            return
          }
          for (const frame of frames) {
            yield* onFrame(frame)
          }
        }
      }))
      return Effect.match(reading, {
        onFailure: (e) =>
          new ClientError({ reason: "Transport", message: e.message }),
        onSuccess: () => new ClientError({ reason: "Closed", message: "the connection closed" })
      })
    }

    const policy = options.reconnect === false ? undefined : (options.reconnect ?? {})
    const canRedial = redial !== undefined && policy !== undefined
    const sessionScope = yield* Effect.scope
    // the reader of the first transport; the supervisor replaces it when a redialled one takes over
    let reader = yield* Effect.forkIn(readFrom(connection), sessionScope)
    // set once the session is open and everything the supervisor uses is in place
    let established = false
    // the supervisor: when the transport ends, the session ends — or, once established and with a policy,
    // comes back on a new one
    yield* Effect.gen(function*() {
      let held: Scope.CloseableScope | undefined
      while (true) {
        const reason = yield* Fiber.join(reader)
        if (!established || closing || !resumable || redial === undefined || policy === undefined) {
          return yield* end(reason)
        }
        isUp = false
        yield* up.close
        if (held !== undefined) yield* Scope.close(held, Exit.void)
        yield* Effect.logInfo(`transport lost (${reason.message}); reconnecting`)
        const outcome = yield* Effect.either(reconnect(policy, redial))
        isUp = true
        yield* up.open
        if (Either.isLeft(outcome)) return yield* end(outcome.left)
        held = outcome.right
      }
    }).pipe(Effect.forkIn(sessionScope))

    /**
     * One sweeper fails requests whose answer is overdue, rather than a timeout race per request:
     * that race forked two fibers and a timer per call, a fifth of the client's cost (bench/invoke).
     * A request fails between `timeout` and `timeout` plus one sweep interval after it was sent.
     */
    const sweepEvery = Duration.clamp(Duration.divide(timeout, 10).pipe(Option.getOrElse(() => Duration.seconds(1))), {
      minimum: Duration.millis(10),
      maximum: Duration.seconds(1)
    })
    yield* Effect.gen(function*() {
      while (true) {
        yield* Effect.sleep(sweepEvery)
        const now = yield* Clock.currentTimeMillis
        for (const [id, request] of pending) {
          if (request.deadline > now) continue
          pending.delete(id)
          yield* Deferred.fail(
            request.answer,
            new ClientError({ reason: "Timeout", message: `no answer to ${id} within ${Duration.format(timeout)}` })
          )
        }
      }
    }).pipe(Effect.forkScoped)

    /** Registers a request awaiting its answer (in one fiber step: every invoke makes one), and the wait. */
    const expect = (id: MessageId) =>
      withMillis((now) => {
        const answer = Deferred.unsafeMake<Decoded, ArcpError | ClientError>(FiberId.none)
        pending.set(id, { answer, deadline: now + timeoutMillis })
        return Effect.succeed(Deferred.await(answer).pipe(Effect.ensuring(Effect.sync(() => pending.delete(id)))))
      })

    /**
     * Sends a prepared envelope and waits for its first correlated answer (registered before sending);
     * `gated` false: at once, even while reconnecting (the new transport's handshake).
     */
    const sendAndAwait = (envelope: Decoded, gated = true) =>
      Effect.gen(function*() {
        const answer = yield* expect(envelope.id)
        const text = encodeUnchecked(inSession(envelope))
        yield* gated ? sendFrame(text) : sendNow(text)
        return yield* answer
      })

    const request = <T extends MessageType>(type: T, payload: PayloadOf<T>, header: HeaderOptions = {}) =>
      Effect.flatMap(makeEnvelope(type, payload, header), sendAndAwait)

    /**
     * Sends `envelope`, then runs `during` (sidecar frames) while its answer may already come; the
     * answer's deadline starts once `during` is done, so a long upload is not cut short.
     */
    const exchange = (envelope: Decoded, during: Effect.Effect<void, ArcpError | ClientError>) =>
      Effect.gen(function*() {
        const answer = yield* expect(envelope.id)
        const entry = pending.get(envelope.id)
        if (entry !== undefined) pending.set(envelope.id, { ...entry, deadline: Number.POSITIVE_INFINITY })
        yield* sendEnvelope(envelope)
        const sender = yield* Effect.fork(
          Effect.tap(during, () =>
            Effect.flatMap(Clock.currentTimeMillis, (now) =>
              Effect.sync(() => {
                const waiting = pending.get(envelope.id)
                if (waiting !== undefined) {
                  pending.set(envelope.id, { ...waiting, deadline: now + Duration.toMillis(timeout) })
                }
              })))
        )
        // a sender that fails first (its source, the socket) ends the wait with its own error
        const sent = Effect.flatMap(Fiber.join(sender), () => Effect.never)
        const reply = yield* Effect.raceFirst(answer, sent)
        yield* Fiber.interrupt(sender)
        return reply
      })

    /**
     * The handshake (§8.1) on the current transport: session.open (naming the session once there is
     * one, to take it back, §9), the challenges, then session.accepted; a rejection fails with its error.
     */
    const handshake = (gated: boolean) =>
      Effect.gen(function*() {
        const ask = <T extends MessageType>(type: T, payload: PayloadOf<T>) =>
          Effect.flatMap(makeEnvelope(type, payload), (envelope) => sendAndAwait(envelope, gated))
        const token = yield* openToken(credentials)
        let reply = yield* ask("session.open", {
          auth: { scheme: credentials.scheme, ...(token !== undefined ? { token } : {}) },
          client: options.client ?? { kind: "arcp-client", version: VERSION },
          // what this client implements, unless the caller says otherwise: artifacts, sidecar frames where the
          // transport has them, and tool discovery
          capabilities: {
            artifacts: true,
            subscriptions: true,
            agent_delegation: true,
            agent_handoff: true,
            workflows: true,
            binary_encoding: current.binary ? ["base64", "sidecar"] : ["base64"],
            ...options.capabilities,
            extensions: options.capabilities?.extensions ?? [TOOLS_EXTENSION]
          }
        })
        while (isCore(reply) && reply.type === "session.challenge") {
          const { challenge_id, params, type } = reply.payload
          const response = yield* answerChallenge(credentials, type, params)
          reply = yield* ask("session.authenticate", { challenge_id, response })
        }
        if (!isCore(reply) || (reply.type !== "session.accepted" && reply.type !== "session.rejected")) {
          return yield* new ClientError({ reason: "Closed", message: `unexpected handshake answer ${reply.type}` })
        }
        if (reply.type === "session.rejected") return yield* errorOf(reply.payload)
        return reply
      })
    const reply = yield* handshake(true)
    const accepted: Message<"session.accepted"> = reply
    const { runtime } = accepted.payload
    sessionId = accepted.payload.session_id
    if (options.pinFingerprint !== undefined && runtime.fingerprint !== options.pinFingerprint) {
      // the runtime did accept us: close the session politely (it frees its state at once), then hang up
      yield* request("session.close", { reason: "runtime fingerprint mismatch" }).pipe(
        Effect.timeout("5 seconds"),
        Effect.ignore
      )
      closing = true
      yield* connection.close
      return yield* new ClientError({
        reason: "FingerprintMismatch",
        message: `runtime fingerprint ${
          runtime.fingerprint ?? "(none)"
        } does not match the pinned ${options.pinFingerprint}`
      })
    }

    /**
     * Takes the session back on a freshly dialled transport and resumes it after the last message
     * seen (§19): fails with the runtime's refusal (DATA_LOSS when it cannot replay from there).
     */
    const takeBack = (after: MessageId | undefined) =>
      Effect.gen(function*() {
        yield* handshake(false)
        const resume = yield* makeEnvelope("resume", after === undefined ? {} : { after_message_id: after })
        resumeId = resume.id
        yield* sendAndAwait(resume, false)
      })

    /** Dials until a transport takes the session back; the scope of the new transport, or why it gave up. */
    const reconnect = (rules: ReconnectPolicy, dial: Effect.Effect<Connection, unknown, Scope.Scope>) =>
      Effect.gen(function*() {
        const attempts = Math.max(1, rules.attempts ?? DEFAULT_POLICY.attempts)
        let last = "the connection dropped"
        // the last message of the lost transport: later handshakes' answers are new messages, after what was missed
        const after = lastSeen
        for (let attempt = 1; attempt <= attempts && !closing; attempt++) {
          yield* Effect.sleep(yield* delayBefore(rules, attempt))
          const scope = yield* Scope.fork(sessionScope, ExecutionStrategy.sequential)
          const dialled = yield* Effect.either(Scope.extend(dial, scope))
          if (Either.isLeft(dialled)) {
            last = dialled.left instanceof Error ? dialled.left.message : String(dialled.left)
            yield* Scope.close(scope, Exit.void)
            continue
          }
          current = dialled.right
          reader = yield* Effect.forkIn(readFrom(current), sessionScope)
          const resumed = yield* Effect.either(takeBack(after))
          if (Either.isRight(resumed)) {
            yield* Effect.logInfo(`reconnected and resumed session after ${attempt} attempt(s)`)
            return scope
          }
          yield* Scope.close(scope, Exit.void)
          const error = resumed.left
          // the runtime answered: it will not take the session back (DATA_LOSS, PERMISSION_DENIED...)
          if (error._tag === "ArcpError") {
            return yield* new ClientError({
              reason: error.code === "DATA_LOSS" ? "DataLoss" : "Closed",
              message: `cannot resume the session: ${error.message}`,
              code: error.code
            })
          }
          last = error.message
        }
        return yield* new ClientError({
          reason: "Transport",
          message: `the connection dropped and ${attempts} reconnection attempt(s) failed: ${last}`
        })
      })

    const withMarks = Effect.map(PubSub.subscribe(inbound), (queue) => Stream.fromQueue(queue))
    const messages = Effect.map(withMarks, Stream.filter(Subscription.isMessage))

    const { headerOf, invoke, listSchedules, schedule, startJob } = ClientJobs.make({
      jobs,
      sendAndAwait,
      request,
      messages
    })

    const artifactDeps: ClientArtifacts.ArtifactDeps = {
      connection: live,
      capabilities: accepted.payload.capabilities,
      inbox,
      exchange,
      clientError: (reason, message) => new ClientError({ reason, message })
    }
    const session: Session = {
      id: accepted.payload.session_id,
      runtime,
      capabilities: accepted.payload.capabilities,
      trustLevel: accepted.payload.trust_level,
      messages,
      subscribe: (filter, since) =>
        Subscription.subscribe(
          {
            messages: withMarks,
            sendAndAwait,
            // on the transport in use (a reconnect replaces it)
            send: sendEnvelope,
            unexpected: (expected, got) =>
              new ClientError({ reason: "Closed", message: `expected ${expected}, got ${got.type}` })
          },
          filter,
          since
        ).pipe(
          // a session that ends (not closed by us) ends the subscription with why: DataLoss, Evicted...
          Stream.interruptWhen(Effect.flatMap(Deferred.await(ended), (e) => closing ? Effect.void : Effect.fail(e)))
        ),
      invoke,
      schedule,
      listSchedules,
      delegate: (target, task, delegateOptions = {}) =>
        Effect.flatMap(
          makeEnvelope("agent.delegate", {
            target,
            task,
            ...(delegateOptions.arguments !== undefined ? { arguments: delegateOptions.arguments } : {}),
            ...(delegateOptions.context !== undefined ? { context: delegateOptions.context } : {})
          }, headerOf(delegateOptions)),
          startJob
        ),
      startWorkflow: (workflow, workflowOptions = {}) =>
        Effect.flatMap(
          makeEnvelope("workflow.start", {
            workflow,
            ...(workflowOptions.inputs !== undefined ? { inputs: workflowOptions.inputs } : {}),
            ...(workflowOptions.steps !== undefined ? { steps: workflowOptions.steps } : {})
          }, headerOf(workflowOptions)),
          startJob
        ),
      handOver: (toRuntime, job, handOverOptions = {}) =>
        Effect.flatMap(
          makeEnvelope("agent.handoff", {
            to_runtime: toRuntime,
            job,
            ...(handOverOptions.job_id !== undefined ? { job_id: JobId.make(handOverOptions.job_id) } : {}),
            ...(handOverOptions.reason !== undefined ? { reason: handOverOptions.reason } : {})
          }, headerOf(handOverOptions)),
          startJob
        ),
      handoff: (toRuntime, handoffOptions = {}) =>
        Effect.asVoid(request("agent.handoff", { to_runtime: toRuntime, ...handoffOptions })),
      ...Answers.make<ClientError>({
        request,
        expect,
        send: sendEnvelope,
        unexpected: (expected, got) =>
          new ClientError({ reason: "Closed", message: `expected ${expected}, got ${got.type}` })
      }),
      send: (type, payload, header) => write(type, payload, header),
      tools: (listOptions = {}) =>
        Effect.gen(function*() {
          if (!(accepted.payload.capabilities.extensions ?? []).includes(TOOLS_EXTENSION)) {
            return yield* ArcpError.of("UNIMPLEMENTED", `the session did not negotiate ${TOOLS_EXTENSION}`)
          }
          const reply = yield* Effect.flatMap(makeEnvelope(LIST_TYPE, listOptions), sendAndAwait)
          if (reply.type !== LISTED_TYPE) {
            return yield* new ClientError({ reason: "Closed", message: `expected ${LISTED_TYPE}, got ${reply.type}` })
          }
          return yield* decodeListed(reply.payload).pipe(
            Effect.mapError((e) => ArcpError.of("INVALID_ARGUMENT", `malformed ${LISTED_TYPE}: ${e.message}`)),
            Effect.map((listed) => listed.tools)
          )
        }),
      request,
      sendExtension: (type, payload, extensionOptions) =>
        Effect.gen(function*() {
          const envelope = yield* extensionEnvelope(type, payload, extensionOptions)
          yield* connection.send(encodeUnchecked(inSession(envelope))).pipe(
            Effect.mapError((e) => new ClientError({ reason: "Transport", message: e.message }))
          )
          return envelope.id
        }),
      requestExtension: (type, payload, extensionOptions) =>
        Effect.flatMap(extensionEnvelope(type, payload, extensionOptions), sendAndAwait),
      ping: Effect.gen(function*() {
        const start = yield* Clock.currentTimeMillis
        yield* request("ping", {})
        return Duration.millis((yield* Clock.currentTimeMillis) - start)
      }),
      close: (closeOptions = {}) =>
        Effect.sync(() => {
          closing = true
        }).pipe(
          Effect.zipRight(request("session.close", closeOptions)),
          Effect.timeout("5 seconds"),
          Effect.ignore,
          Effect.zipRight(Effect.suspend(() => current.close))
        ),
      ended: Deferred.await(ended),
      putArtifact: (data, putOptions) => ClientArtifacts.put(artifactDeps, data, putOptions),
      fetchArtifact: (artifact, fetchOptions) => ClientArtifacts.fetch(artifactDeps, artifact, fetchOptions)
    }
    established = true
    return session
  })
