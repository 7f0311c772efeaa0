/**
 * The dashboard's ARCP client: one WebSocket session with the signed-in principal's credentials.
 *
 * It is a thin layer over the protocol module itself, not a second copy of it: envelopes are built by
 * `Envelope.make`, validated on the way out by `Message.encode` and decoded on the way in by
 * `Message.decodeJson`, the same schemas the runtime uses. When the socket drops (the runtime restarted,
 * the laptop slept) it opens a new session with the same credentials, backing off up to 5 s, and tells the
 * page (`onReady`) so it can subscribe again from the last event it saw. A refused sign-in is not retried; a
 * rejection the runtime marks retryable (§18.3: a handshake that timed out on a busy runtime, a full runtime) is.
 */
import { Effect, Either } from "effect"
import { type HeaderOptions, make as makeEnvelope } from "../../protocol/Envelope.js"
import { isRetryable } from "../../protocol/Errors.js"
import { TOOLS_EXTENSION } from "../../protocol/extensions/ToolDiscovery.js"
import type { MessageId } from "../../protocol/Ids.js"
import { type Decoded, decodeJson, encode, isCore, type MessageType, type PayloadOf } from "../../protocol/Message.js"
import { VERSION } from "../../Version.js"
import { after } from "./Timers.js"

export interface Credentials {
  readonly scheme: "bearer" | "signed_jwt"
  readonly token: string
}

export type Accepted = PayloadOf<"session.accepted">

export type Status =
  | { readonly kind: "connecting"; readonly attempt: number }
  | { readonly kind: "open"; readonly accepted: Accepted }
  | { readonly kind: "retrying"; readonly reason: string; readonly inMs: number }
  | { readonly kind: "refused"; readonly reason: string }
  | { readonly kind: "closed" }

export interface Handlers {
  readonly onStatus: (status: Status) => void
  /** Every message after the handshake (replies to `request` included). */
  readonly onMessage: (message: Decoded) => void
  /** A session is open (the first, or a new one after a reconnect). */
  readonly onReady: (accepted: Accepted) => void
}

/** A failed request: the runtime's nack or error payload, or the connection's end. */
export class WireError extends Error {
  constructor(readonly code: string, message: string, readonly retryable = false) {
    super(`${code}: ${message}`)
  }
}

/** Most replies awaited at once (every pending request holds a callback). */
const MAX_PENDING = 256
const MAX_BACKOFF_MS = 5_000

/** Reads the error fields a nack, session.rejected or tool.error carries. */
const errorOf = (message: Decoded): WireError => {
  const code: unknown = Reflect.get(message.payload, "code")
  const text: unknown = Reflect.get(message.payload, "message") ?? Reflect.get(message.payload, "reason")
  const retryable: unknown = Reflect.get(message.payload, "retryable")
  const wireCode = typeof code === "string" ? code : "UNAUTHENTICATED"
  return new WireError(
    wireCode,
    typeof text === "string" ? text : message.type,
    typeof retryable === "boolean" ? retryable : isRetryable(wireCode)
  )
}

export class Wire {
  private socket: WebSocket | undefined
  private attempt = 0
  private stopped = false
  private cancelRetry: (() => void) | undefined
  private readonly pending = new Map<string, (reply: Decoded | WireError) => void>()
  private accepted: Accepted | undefined
  /** Why the runtime turned the last attempt away, when it said a later one may succeed: shown while retrying. */
  private retryReason: string | undefined

  constructor(
    readonly url: string,
    private readonly credentials: Credentials,
    private readonly handlers: Handlers
  ) {}

  /** Opens the first session; reconnects by itself after that. */
  start(): void {
    this.stopped = false
    this.connect()
  }

  /** The session's accepted payload while one is open. */
  get session(): Accepted | undefined {
    return this.accepted
  }

  /** Builds, validates and sends a message; returns its id (throws WireError when it is invalid or the socket is down). */
  send<T extends MessageType>(type: T, payload: PayloadOf<T>, header: HeaderOptions = {}): MessageId {
    return this.write(Effect.runSync(makeEnvelope(type, payload, this.withSession(header))))
  }

  /** Once the session is open every envelope names it (§6.1.1). */
  private withSession(header: HeaderOptions): HeaderOptions {
    const session = this.accepted?.session_id
    return session === undefined || header.session_id !== undefined ? header : { ...header, session_id: session }
  }

  private write(envelope: Decoded): MessageId {
    // core messages are validated against their type's schema, extension messages as envelopes
    const text = encode(envelope)
    if (Either.isLeft(text)) throw new WireError("INVALID_ARGUMENT", text.left.message)
    const socket = this.socket
    if (socket === undefined || socket.readyState !== WebSocket.OPEN) {
      throw new WireError("UNAVAILABLE", "not connected to the runtime")
    }
    socket.send(text.right)
    return envelope.id
  }

  /** Sends a message of a namespaced extension (§21), validated as an envelope; returns its id. */
  sendExtension(type: string, payload: { readonly [key: string]: unknown }): MessageId {
    return this.write(Effect.runSync(makeEnvelope(type, payload, this.withSession({}))))
  }

  /** Sends and resolves with the first message correlated to it; a nack (or the socket's end) rejects. */
  request<T extends MessageType>(type: T, payload: PayloadOf<T>, header: HeaderOptions = {}): Promise<Decoded> {
    if (this.pending.size >= MAX_PENDING) {
      return Promise.reject(new WireError("RESOURCE_EXHAUSTED", "too many requests waiting for the runtime"))
    }
    return new Promise((resolve, reject) => {
      try {
        const id = this.send(type, payload, header)
        this.pending.set(id, (reply) => (reply instanceof WireError ? reject(reply) : resolve(reply)))
      } catch (e) {
        reject(e)
      }
    })
  }

  /** Closes the session politely and stops reconnecting. */
  stop(): void {
    this.stopped = true
    this.cancelRetry?.()
    const socket = this.socket
    if (socket !== undefined && socket.readyState === WebSocket.OPEN && this.accepted !== undefined) {
      try {
        this.send("session.close", { reason: "signed out" })
      } catch {
        // the socket is going away anyway
      }
    }
    socket?.close()
    this.socket = undefined
    this.handlers.onStatus({ kind: "closed" })
  }

  private connect(): void {
    this.attempt += 1
    this.handlers.onStatus({ kind: "connecting", attempt: this.attempt })
    let socket: WebSocket
    try {
      socket = new WebSocket(this.url)
    } catch (e) {
      this.handlers.onStatus({ kind: "refused", reason: `cannot open ${this.url}: ${String(e)}` })
      return
    }
    this.socket = socket
    socket.onopen = () => this.open()
    socket.onmessage = (event) => {
      if (typeof event.data === "string") this.receive(event.data)
    }
    socket.onclose = (event) => this.closed(socket, event.reason)
  }

  private open(): void {
    this.request("session.open", {
      auth: { scheme: this.credentials.scheme, token: this.credentials.token },
      client: { kind: "arcp-dashboard", version: VERSION },
      capabilities: {
        streaming: true,
        human_input: true,
        artifacts: true,
        subscriptions: true,
        interrupt: true,
        binary_encoding: ["base64"],
        extensions: [TOOLS_EXTENSION]
      }
    }).then(
      (reply) => {
        if (isCore(reply) && reply.type === "session.accepted") {
          this.attempt = 0
          this.accepted = reply.payload
          this.handlers.onStatus({ kind: "open", accepted: reply.payload })
          this.handlers.onReady(reply.payload)
        } else if (isCore(reply) && reply.type === "session.challenge") {
          this.refuse("this runtime asks for a signed nonce, which the dashboard cannot sign: use a bearer token")
        } else {
          this.rejected(errorOf(reply))
        }
      },
      (e: unknown) => {
        if (e instanceof WireError && e.code !== "UNAVAILABLE") this.rejected(e)
      }
    )
  }

  /** The runtime turned the sign-in away: tried again later when it says that may succeed, else refused for good. */
  private rejected(error: WireError): void {
    if (!error.retryable) {
      this.refuse(error.message)
      return
    }
    // `closed` schedules the next attempt, and says why
    if (this.socket === undefined) return
    this.retryReason = error.message
    this.socket.close()
  }

  private refuse(reason: string): void {
    this.stopped = true
    this.socket?.close()
    this.handlers.onStatus({ kind: "refused", reason })
  }

  private receive(text: string): void {
    const decoded = decodeJson(text)
    // a frame our schemas refuse is dropped: the page shows only what it could read
    if (Either.isLeft(decoded)) return
    const message = decoded.right
    const waiting = message.correlation_id === undefined ? undefined : this.pending.get(message.correlation_id)
    if (waiting !== undefined && message.correlation_id !== undefined) {
      this.pending.delete(message.correlation_id)
      waiting(message.type === "nack" ? errorOf(message) : message)
    } else if (message.type === "session.unauthenticated") {
      this.refuse(errorOf(message).message)
      return
    } else if (message.type === "session.rejected" && !this.accepted) {
      this.rejected(errorOf(message))
      return
    }
    if (this.accepted !== undefined) this.handlers.onMessage(message)
  }

  private closed(socket: WebSocket, reason: string): void {
    if (this.socket !== socket) return
    this.socket = undefined
    this.accepted = undefined
    for (const [id, waiting] of this.pending) {
      this.pending.delete(id)
      waiting(new WireError("UNAVAILABLE", "the connection to the runtime closed"))
    }
    if (this.stopped) return
    const inMs = Math.min(MAX_BACKOFF_MS, 250 * 2 ** Math.min(this.attempt, 6))
    const why = this.retryReason ?? (reason === "" ? "connection lost" : reason)
    this.retryReason = undefined
    this.handlers.onStatus({ kind: "retrying", reason: why, inMs })
    this.cancelRetry = after(inMs, () => {
      this.cancelRetry = undefined
      if (!this.stopped) this.connect()
    })
  }
}
