/**
 * How frames move (RFC §22): a `Connection` is a stream of incoming frames plus
 * `send`; an `Acceptor` hands each new connection to a handler. Transports
 * (WebSocket, stdio, memory) implement both; the runtime only sees these.
 */
import type { Effect, Scope, Stream } from "effect"
import { Context, Schema } from "effect"
import type { Peer } from "./Tls.js"

/** One incoming frame. Oversized frames are reported, not delivered, so the connection lives on. */
export type Incoming =
  | { readonly _tag: "Text"; readonly text: string }
  | { readonly _tag: "Binary"; readonly data: Uint8Array }
  | { readonly _tag: "TooLarge"; readonly bytes: number; readonly head: string }

/** A transport failure: opening, reading, writing, or using a closed connection. */
export class TransportError extends Schema.TaggedError<TransportError>()("TransportError", {
  reason: Schema.Literal("Open", "Read", "Write", "Closed", "Unsupported"),
  message: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {}

/** One bidirectional connection. `send` takes text (one envelope) or bytes (a binary sidecar frame). */
export interface Connection {
  /** For logs: the transport and peer. */
  readonly label: string
  /** True when the transport has native binary frames (WebSocket); false means base64 only (§22). */
  readonly binary: boolean
  readonly incoming: Stream.Stream<Incoming, TransportError>
  /**
   * Optional, the same frames without a stream's machinery: waits for frames and returns every one
   * received since the last call, or none once the connection has ended. The runtime reads a
   * connection through it when the transport has it (an idle connection then holds no stream
   * executor, issue 12). A connection is read through `receive` or `incoming`, never both.
   */
  readonly receive?: Effect.Effect<ReadonlyArray<Incoming>, TransportError> | undefined
  /** Optional, with `receive`: what `receive` would return at once, or `undefined` when it would wait. */
  readonly receiveNow?: (() => Effect.Effect<ReadonlyArray<Incoming>, TransportError> | undefined) | undefined
  /**
   * Optional, with `receiveNow`: calls `callback` once, as soon as `receiveNow` has something (frames or the end):
   * at once if it has now. With `suspend`, a connection waits for its peer with no fiber (issue 12).
   */
  readonly whenReadable?: ((callback: () => void) => void) | undefined
  readonly send: (frame: string | Uint8Array) => Effect.Effect<void, TransportError>
  /**
   * Bytes sent but not yet taken by the peer, that the transport holds in memory (a WebSocket's
   * `bufferedAmount`). The runtime's outbound budget counts them; absent means the transport
   * holds nothing itself (its `send` waits instead).
   */
  readonly buffered?: (() => number) | undefined
  /**
   * True when `send` may itself wait for the peer (a stream's drain past its high-water mark): the
   * runtime's outbound path then writes on a fiber of its own, so its commits go on meanwhile.
   */
  readonly sendWaits?: boolean | undefined
  /** Closes the connection; idempotent. */
  readonly close: Effect.Effect<void>
  /**
   * Completes once the transport's send buffer is below its high-water mark, so a
   * sender of many frames (sidecar transfers) never queues more than that in memory.
   * Absent: the transport does not buffer (or cannot tell).
   */
  readonly drain?: Effect.Effect<void> | undefined
  /** What the transport proved about the peer (a verified TLS client certificate, for mtls §8.2). */
  readonly peer?: Peer | undefined
  /**
   * True when the transport serves this connection on a fiber of its own (the listening transports, see
   * `internal/Accepting`): the runtime may then read it on that fiber, and end the connection from elsewhere
   * by interrupting it. Absent, the handler may be running on its caller's fiber, which is never interrupted.
   */
  readonly ownFiber?: boolean | undefined
  /**
   * With `ownFiber`: the scope of the connection's life, closed once its fiber has ended. The runtime keeps its
   * own finalizers there instead of a scope of its own: fewer frames on an idle connection's fiber (issue 12).
   */
  readonly scope?: Scope.Scope | undefined
  /**
   * With `ownFiber`: ends the calling fiber's turn with the connection left open and no fiber of its own (an idle
   * connection's memory, issue 12); the handler returns at once after it, and whatever frames its fiber still
   * unwinds must not end the connection. `arm` is given `resume`, which starts `next` on a new fiber of the
   * connection's, with the calling fiber's refs (once, whoever calls it): the connection's fiber from then on, whose
   * end closes `scope` unless it suspends in turn. The transport's end interrupts a suspended connection in the same way.
   */
  readonly suspend?:
    | ((arm: (resume: () => void) => void, next: Effect.Effect<void>) => Effect.Effect<void>)
    | undefined
}

/**
 * A source of connections. `run` serves each connection with `handler` in its
 * own fiber until the acceptor stops (never, for a listening socket; when the
 * one connection ends, for stdio).
 */
export class Acceptor extends Context.Tag("arcp/Acceptor")<Acceptor, {
  /** Where clients reach it, for humans: `ws://127.0.0.1:7777`, `stdio`, `memory`. */
  readonly address: string
  readonly run: (handler: (connection: Connection) => Effect.Effect<void>) => Effect.Effect<void, TransportError>
}>() {}

/** The default largest frame accepted: 1 MiB. */
export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024

/** How much of an oversized frame is kept, so its `id` can still be read for the answer. */
const HEAD_CHARS = 1024

/** Classifies a text frame against the size limit (UTF-8 bytes). */
export const textFrame = (text: string, maxFrameBytes: number): Incoming => {
  // a UTF-16 code unit is at most 3 UTF-8 bytes: skip the exact count when it cannot matter
  if (text.length * 3 <= maxFrameBytes) return { _tag: "Text", text }
  const bytes = Buffer.byteLength(text, "utf8")
  return bytes <= maxFrameBytes ? { _tag: "Text", text } : { _tag: "TooLarge", bytes, head: text.slice(0, HEAD_CHARS) }
}

/** Classifies a binary frame against the size limit. */
export const binaryFrame = (data: Uint8Array, maxFrameBytes: number): Incoming =>
  data.byteLength <= maxFrameBytes
    ? { _tag: "Binary", data }
    : { _tag: "TooLarge", bytes: data.byteLength, head: "" }

/** Makes the head of an oversized frame from its first bytes. */
export const headOf = (bytes: Uint8Array): string => Buffer.from(bytes.subarray(0, HEAD_CHARS * 3)).toString("utf8")
