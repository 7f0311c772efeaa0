/**
 * Binary sidecar frames (RFC §11.3, §16.2, §22): the small header each
 * transport-native binary frame carries so the receiver can tell which
 * announced transfer it belongs to (docs/decisions.md, "Sidecar frames").
 *
 *   byte 0        flags: low 4 bits = kind (1 = transfer keyed by a message id:
 *                 an artifact.put upload or the answer to an artifact.fetch;
 *                 2 = binary stream chunk keyed by stream_id); 0x80 = last frame;
 *                 0x40 = abort (with 0x80: the sender gives up, the receiver drops
 *                 what it got); other bits 0
 *   byte 1        K, the key's length in bytes (1..255)
 *   bytes 2..2+K  the key, UTF-8 (the message id, or the stream id)
 *   4 bytes       sequence, unsigned big-endian (frame index of a transfer,
 *                 from 0; the chunk's `sequence` for a stream)
 *   the rest      payload bytes
 */

/** What a frame belongs to: a transfer announced by a message, or a stream's chunk. */
export type SidecarKind = "transfer" | "stream"

export interface SidecarFrame {
  readonly kind: SidecarKind
  readonly key: string
  readonly sequence: number
  /** The last frame of its transfer (or of its stream chunk). */
  readonly final: boolean
  /** The sender gave up: the receiver fails the transfer and keeps nothing. */
  readonly aborted?: boolean | undefined
  readonly payload: Uint8Array
}

const KINDS: Record<SidecarKind, number> = { transfer: 1, stream: 2 }
const FINAL = 0x80
const ABORT = 0x40
const MAX_KEY = 255
const encoder = new TextEncoder()
const decoder = new TextDecoder("utf-8", { fatal: true })

/** The largest payload we put in one frame: well under the 1 MiB default frame limit. */
export const FRAME_PAYLOAD_BYTES = 256 * 1024

/** Builds one frame; the key must be 1..255 UTF-8 bytes. */
export const encode = (frame: SidecarFrame): Uint8Array => {
  const key = encoder.encode(frame.key)
  if (key.byteLength === 0 || key.byteLength > MAX_KEY) throw new RangeError("sidecar key must be 1..255 bytes")
  const out = new Uint8Array(2 + key.byteLength + 4 + frame.payload.byteLength)
  out[0] = KINDS[frame.kind] | (frame.final ? FINAL : 0) | (frame.aborted === true ? ABORT : 0)
  out[1] = key.byteLength
  out.set(key, 2)
  new DataView(out.buffer).setUint32(2 + key.byteLength, frame.sequence >>> 0)
  out.set(frame.payload, 6 + key.byteLength)
  return out
}

/** Reads a frame's header; a string saying what is wrong when it is not one of ours. */
export const decode = (bytes: Uint8Array): SidecarFrame | string => {
  if (bytes.byteLength < 7) return "binary frame too short for a sidecar header"
  const flags = bytes[0] ?? 0
  const kindBits = flags & 0x0f
  const kind: SidecarKind | undefined = kindBits === 1 ? "transfer" : kindBits === 2 ? "stream" : undefined
  if (kind === undefined || (flags & 0x30) !== 0) return `unknown sidecar frame kind 0x${flags.toString(16)}`
  const keyLength = bytes[1] ?? 0
  if (keyLength === 0 || bytes.byteLength < 6 + keyLength) return "binary frame too short for its sidecar key"
  let key: string
  try {
    key = decoder.decode(bytes.subarray(2, 2 + keyLength))
  } catch {
    return "sidecar key is not UTF-8"
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  return {
    kind,
    key,
    sequence: view.getUint32(2 + keyLength),
    final: (flags & FINAL) !== 0,
    aborted: (flags & ABORT) !== 0,
    payload: bytes.subarray(6 + keyLength)
  }
}

/** Cuts bytes into frame-sized payloads (zero bytes give none). */
export function* slices(bytes: Uint8Array, size = FRAME_PAYLOAD_BYTES): Generator<Uint8Array> {
  for (let offset = 0; offset < bytes.byteLength; offset += size) yield bytes.subarray(offset, offset + size)
}
