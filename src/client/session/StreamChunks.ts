/**
 * The client's end of binary stream chunks sent as sidecar frames (RFC §11.3;
 * docs/decisions.md, "Sidecar frames"): a `stream.chunk` announcing
 * `encoding: "sidecar"` is held until its binary frames (keyed to the stream id
 * and the chunk's sequence) have arrived, checked against `size` and `sha256`,
 * and then handed on as the same chunk with its bytes in `data` (base64), so the
 * application reads one chunk shape on every transport (`chunkBytes` decodes it).
 * A chunk whose frames are missing, out of order, short, long or corrupt ends its
 * stream with a `stream.error` DATA_LOSS made here; the runtime's later messages
 * for that stream are dropped.
 */
import { Effect, Either } from "effect"
import { createHash } from "node:crypto"
import * as Base64 from "../../internal/Base64.js"
import { make as makeEnvelope } from "../../protocol/Envelope.js"
import type { ErrorCode } from "../../protocol/Errors.js"
import { type Decoded, isCore, type Message } from "../../protocol/Message.js"
import type * as Frame from "../../protocol/Sidecar.js"

/** Bytes of announced chunks held at once, over all streams; a larger announcement fails its stream. */
export const MAX_PENDING_BYTES = 64 * 1024 * 1024
/** Failed stream ids remembered, so the runtime's later messages for them are dropped. */
const REMEMBERED = 256

interface Pending {
  readonly chunk: Message<"stream.chunk">
  readonly sequence: number
  readonly size: number
  readonly sha256: string | undefined
  readonly parts: Array<Uint8Array>
  received: number
}

/** The bytes of a binary `stream.chunk` (base64 `data`); undefined for any other message. */
export const chunkBytes = (message: Decoded): Uint8Array | undefined => {
  if (!isCore(message) || message.type !== "stream.chunk") return undefined
  const { data, encoding } = message.payload
  if (encoding !== "base64" || data === undefined) return undefined
  return Either.getOrUndefined(Base64.decode(data))
}

export const makeAssembler = () => {
  const pending = new Map<string, Pending>()
  const failed: Array<string> = []
  let held = 0

  const release = (streamId: string) => {
    const p = pending.get(streamId)
    if (p !== undefined) held -= p.size
    pending.delete(streamId)
  }

  /** Ends the stream with a local stream.error: what the application sees instead of a damaged chunk. */
  const fail = Effect.fnUntraced(function*(about: Decoded, code: ErrorCode, message: string) {
    const streamId = about.stream_id ?? ""
    release(streamId)
    failed.push(streamId)
    if (failed.length > REMEMBERED) failed.shift()
    const error = yield* makeEnvelope("stream.error", { code, message, retryable: false }, {
      ...(about.session_id !== undefined ? { session_id: about.session_id } : {}),
      ...(about.job_id !== undefined ? { job_id: about.job_id } : {}),
      ...(about.stream_id !== undefined ? { stream_id: about.stream_id } : {})
    })
    return [error]
  })

  /** A JSON message: what to hand on now (nothing while a sidecar chunk waits for its frames). */
  const onMessage = (message: Decoded): Effect.Effect<Array<Decoded>> => {
    const streamId = message.stream_id
    if (streamId === undefined) return Effect.succeed([message])
    if (failed.includes(streamId)) return Effect.succeed([])
    const waiting = pending.get(streamId)
    if (waiting !== undefined) {
      return fail(
        waiting.chunk,
        "DATA_LOSS",
        `the sidecar frames of chunk ${waiting.sequence} of stream ${streamId} never arrived`
      )
    }
    if (!isCore(message) || message.type !== "stream.chunk" || message.payload.encoding !== "sidecar") {
      return Effect.succeed([message])
    }
    const { sequence, sha256, size } = message.payload
    if (size === undefined) {
      return fail(
        message,
        "DATA_LOSS",
        `chunk ${sequence ?? 0} of stream ${streamId} announces sidecar data of no size`
      )
    }
    if (held + size > MAX_PENDING_BYTES) {
      return fail(
        message,
        "RESOURCE_EXHAUSTED",
        `chunk ${sequence ?? 0} of stream ${streamId} announces ${size} bytes, more than this client holds at once`
      )
    }
    held += size
    pending.set(streamId, { chunk: message, sequence: sequence ?? 0, size, sha256, parts: [], received: 0 })
    return Effect.succeed([])
  }

  /** A binary frame of kind "stream": the chunk it completes, if it does. */
  const onFrame = (frame: Frame.SidecarFrame): Effect.Effect<Array<Decoded>> => {
    const p = pending.get(frame.key)
    if (p === undefined) {
      return failed.includes(frame.key)
        ? Effect.succeed([])
        : Effect.as(Effect.logWarning(`ignored a sidecar frame of stream ${frame.key}: no chunk announced it`), [])
    }
    const where = `chunk ${p.sequence} of stream ${frame.key}`
    if (frame.aborted === true) return fail(p.chunk, "DATA_LOSS", `the runtime aborted the sidecar frames of ${where}`)
    if (frame.sequence !== p.sequence) {
      return fail(p.chunk, "DATA_LOSS", `a sidecar frame of chunk ${frame.sequence} arrived while ${where} was due`)
    }
    p.received += frame.payload.byteLength
    if (p.received > p.size) return fail(p.chunk, "DATA_LOSS", `${where} carries more than its ${p.size} bytes`)
    p.parts.push(frame.payload)
    if (!frame.final) return Effect.succeed([])
    if (p.received !== p.size) {
      return fail(p.chunk, "DATA_LOSS", `${where} carries ${p.received} of its ${p.size} bytes`)
    }
    const bytes = Buffer.concat(p.parts)
    if (p.sha256 !== undefined && createHash("sha256").update(bytes).digest("hex") !== p.sha256) {
      return fail(p.chunk, "DATA_LOSS", `${where} does not match its sha256`)
    }
    release(frame.key)
    const { frames: _frames, sha256: _sha256, size: _size, ...rest } = p.chunk.payload
    const chunk: Decoded = { ...p.chunk, payload: { ...rest, encoding: "base64", data: bytes.toString("base64") } }
    return Effect.succeed([chunk])
  }

  return { onMessage, onFrame }
}
