/**
 * Opening a client session (§8.1–§8.3): session.open with the client's capabilities, the runtime's
 * challenges answered, then session.accepted or the rejection's error; and the runtime fingerprint
 * checked against the one the caller pinned.
 */
import { Effect } from "effect"
import { make as makeEnvelope } from "../../protocol/Envelope.js"
import { ArcpError } from "../../protocol/Errors.js"
import { TOOLS_EXTENSION } from "../../protocol/extensions/ToolDiscovery.js"
import { type Decoded, isCore, type Message, type MessageType, type PayloadOf } from "../../protocol/Message.js"
import { VERSION } from "../../Version.js"
import { ClientError, type ConnectOptions } from "../ClientApi.js"
import { answerChallenge, openToken } from "../Credentials.js"
import type { SessionState } from "./State.js"

/** What the handshake needs of the session. */
export interface HandshakeDeps {
  readonly state: SessionState
  readonly options: ConnectOptions
  /** Sends an envelope and waits for its answer; `gated` false: at once, even while reconnecting. */
  readonly sendAndAwait: (envelope: Decoded, gated: boolean) => Effect.Effect<Decoded, ArcpError | ClientError>
}

/**
 * The handshake on the current transport: session.open (naming the session once there is one, to take
 * it back, §9), the challenges, then session.accepted; a rejection fails with its error.
 */
export const open = Effect.fnUntraced(function*(
  deps: HandshakeDeps,
  gated: boolean
) {
  const { options, sendAndAwait, state } = deps
  const credentials = options.credentials
  const ask = <T extends MessageType>(type: T, payload: PayloadOf<T>) =>
    Effect.flatMap(makeEnvelope(type, payload), (envelope) => {
      state.handshakeId = envelope.id
      return sendAndAwait(envelope, gated).pipe(
        Effect.ensuring(Effect.sync(() => {
          if (state.handshakeId === envelope.id) state.handshakeId = undefined
        }))
      )
    })
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
      binary_encoding: state.current.binary ? ["base64", "sidecar"] : ["base64"],
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
  if (reply.type === "session.rejected") return yield* ArcpError.fromPayload(reply.payload)
  return reply
})

/**
 * Fails with FingerprintMismatch when the caller pinned a runtime fingerprint and `accepted` names
 * another: the runtime did accept us, so the session is closed politely (it frees its state at once)
 * before the transport is hung up.
 */
export const checkPin = Effect.fnUntraced(function*(
  deps: HandshakeDeps,
  accepted: Message<"session.accepted">
) {
  const pinned = deps.options.pinFingerprint
  const { fingerprint } = accepted.payload.runtime
  if (pinned === undefined || fingerprint === pinned) return
  yield* makeEnvelope("session.close", { reason: "runtime fingerprint mismatch" }).pipe(
    Effect.flatMap((envelope) => deps.sendAndAwait(envelope, true)),
    Effect.timeout("5 seconds"),
    Effect.ignore
  )
  deps.state.closing = true
  yield* deps.state.current.close
  return yield* new ClientError({
    reason: "FingerprintMismatch",
    message: `runtime fingerprint ${fingerprint ?? "(none)"} does not match the pinned ${pinned}`
  })
})
