/**
 * The client: `connect` runs the handshake over any `Connection` (§8.1–§8.3) and yields a scoped
 * `Session` whose methods are Effects and Streams with typed errors. The parts it composes are in
 * `session/`: the shared state, the requests, the reader, the handshake and the reconnect supervisor.
 */
import { Clock, Deferred, Duration, Effect, PubSub, Schema, type Scope, Stream } from "effect"
import { make as makeEnvelope } from "../protocol/Envelope.js"
import { ArcpError } from "../protocol/Errors.js"
import { isExtensionType } from "../protocol/Extensions.js"
import { LIST_TYPE, LISTED_TYPE, ListedPayload, TOOLS_EXTENSION } from "../protocol/extensions/ToolDiscovery.js"
import { JobId } from "../protocol/Ids.js"
import { type Decoded, isMessageType } from "../protocol/Message.js"
import { makeInbox } from "../transport/SidecarTransfers.js"
import type { Connection } from "../transport/Transport.js"
import * as Answers from "./session/Answers.js"
import * as ClientArtifacts from "./session/ClientArtifacts.js"
import * as ClientJobs from "./session/ClientJobs.js"
import * as Handshake from "./session/Handshake.js"
import * as JobRouter from "./session/JobRouter.js"
import * as Reader from "./session/Reader.js"
import * as Requests from "./session/Requests.js"
import { SessionState } from "./session/State.js"
import * as StreamChunks from "./session/StreamChunks.js"
import * as Subscription from "./session/Subscription.js"
import * as Supervisor from "./session/Supervisor.js"

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

const decodeListed = Schema.decodeUnknown(ListedPayload)

/**
 * Runs the handshake on `connection` and returns the open session (closed with the scope). With
 * `redial`, a dropped transport is replaced by a new one and the session resumed (`options.reconnect`).
 */
export const connect = Effect.fnUntraced(function*(
  connection: Connection,
  options: ConnectOptions,
  redial?: Effect.Effect<Connection, unknown, Scope.Scope>
) {
  const state = yield* SessionState.make(connection)
  const timeout = Duration.decode(options.timeout ?? "30 seconds")
  // the session's messages, with a `Resumed` mark where a reconnect resumed it (seen only by subscriptions)
  const inbound = yield* PubSub.unbounded<Decoded | Subscription.Resumed>()
  const requests = Requests.make(state, timeout)
  const { exchange, expect, request, sendAndAwait } = requests
  const ended = yield* Deferred.make<ClientError>()
  // artifact bytes arriving as sidecar frames, keyed by the fetch's id (§16.2)
  const inbox = yield* makeInbox()
  // the invokes' job handles: job events are routed straight to them by the reader
  const jobs = JobRouter.make<ClientError>()
  const end = Effect.fnUntraced(function*(error: ClientError) {
    yield* Deferred.succeed(ended, error)
    yield* requests.failAll(error)
    yield* jobs.failAll(error)
  })

  const policy = options.reconnect === false ? undefined : (options.reconnect ?? {})
  const { readFrom } = Reader.make({
    state,
    requests,
    jobs,
    inbox,
    inbound,
    credentials: options.credentials,
    canRedial: redial !== undefined && policy !== undefined,
    end
  })
  const handshake = { state, options, sendAndAwait }
  yield* Supervisor.start({
    state,
    readFrom,
    handshake: Handshake.open(handshake, false),
    sendNowAndAwait: (envelope) => sendAndAwait(envelope, false),
    end,
    policy,
    redial,
    sessionScope: yield* Effect.scope
  })
  yield* Effect.forkScoped(requests.sweeper)

  const accepted = yield* Handshake.open(handshake, true)
  const { runtime } = accepted.payload
  state.sessionId = accepted.payload.session_id
  yield* Handshake.checkPin(handshake, accepted)

  const withMarks = Effect.map(PubSub.subscribe(inbound), (queue) => Stream.fromQueue(queue))
  const messages = Effect.map(withMarks, Stream.filter(Subscription.isMessage))

  const { headerOf, invoke, listSchedules, schedule, startJob } = ClientJobs.make({
    jobs,
    sendAndAwait,
    request,
    messages
  })

  const artifactDeps: ClientArtifacts.ArtifactDeps = {
    connection: state.live,
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
          send: state.sendEnvelope,
          unexpected: (expected, got) =>
            new ClientError({ reason: "Closed", message: `expected ${expected}, got ${got.type}` })
        },
        filter,
        since
      ).pipe(
        // a session that ends (not closed by us) ends the subscription with why: DataLoss, Evicted...
        Stream.interruptWhen(
          Effect.flatMap(Deferred.await(ended), (e) => state.closing ? Effect.void : Effect.fail(e))
        )
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
      send: state.sendEnvelope,
      unexpected: (expected, got) =>
        new ClientError({ reason: "Closed", message: `expected ${expected}, got ${got.type}` })
    }),
    send: (type, payload, header) => state.write(type, payload, header),
    tools: Effect.fnUntraced(function*(listOptions = {}) {
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
    sendExtension: Effect.fnUntraced(function*(type, payload, extensionOptions) {
      const envelope = yield* extensionEnvelope(type, payload, extensionOptions)
      // on the current transport (after a reconnect, not the lost one), as every other send
      yield* state.sendEnvelope(envelope)
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
        state.closing = true
      }).pipe(
        Effect.zipRight(request("session.close", closeOptions)),
        Effect.timeout("5 seconds"),
        Effect.ignore,
        Effect.zipRight(Effect.suspend(() => state.current.close))
      ),
    ended: Deferred.await(ended),
    putArtifact: (data, putOptions) => ClientArtifacts.put(artifactDeps, data, putOptions),
    fetchArtifact: (artifact, fetchOptions) => ClientArtifacts.fetch(artifactDeps, artifact, fetchOptions)
  }
  state.established = true
  return session
})
