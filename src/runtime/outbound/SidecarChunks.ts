/**
 * Binary stream chunks as sidecar frames (RFC §11.3; docs/decisions.md, "Sidecar
 * frames"): on a connection whose session negotiated `sidecar`, the outbound
 * writer turns a base64 `stream.chunk` (as the log keeps it) into a JSON chunk
 * announcing `encoding: "sidecar"` with `size`, `sha256` and `frames`, followed
 * by that many binary frames keyed to the stream id and the chunk's sequence.
 */
import { Effect, Either } from "effect"
import { createHash } from "node:crypto"
import * as Base64 from "../../internal/Base64.js"
import { type Decoded, isCore, tryEncode } from "../../protocol/Message.js"
import * as Frame from "../../protocol/Sidecar.js"
import type { Connection, TransportError } from "../../transport/Transport.js"

export interface SidecarChunk {
  /** The announcing `stream.chunk`, without its data. */
  readonly json: string
  /** The binary frames that follow it, in order; the last one is marked final. */
  readonly frames: ReadonlyArray<Uint8Array>
}

/** The sidecar form of `envelope` when it is a base64 binary chunk of a stream; undefined otherwise. */
export const toSidecar = (envelope: Decoded): SidecarChunk | undefined => {
  if (!isCore(envelope) || envelope.type !== "stream.chunk" || envelope.stream_id === undefined) return undefined
  const { data, encoding, frames: _frames, sha256: _sha256, size: _size, ...rest } = envelope.payload
  if (encoding !== "base64" || data === undefined) return undefined
  const bytes = Base64.decode(data)
  if (Either.isLeft(bytes)) return undefined
  const key = envelope.stream_id
  const sequence = rest.sequence ?? 0
  const slices = [...Frame.slices(bytes.right)]
  const payloads = slices.length === 0 ? [new Uint8Array(0)] : slices
  const frames = payloads.map((payload, i) =>
    Frame.encode({ kind: "stream", key, sequence, final: i === payloads.length - 1, payload })
  )
  const announced = tryEncode({
    ...envelope,
    payload: {
      ...rest,
      encoding: "sidecar",
      size: bytes.right.byteLength,
      sha256: createHash("sha256").update(bytes.right).digest("hex"),
      frames: frames.length
    }
  })
  return Either.isLeft(announced) ? undefined : { json: announced.right, frames }
}

/** Writes one envelope's JSON, or with `sidecarChunks` on a binary transport a binary chunk as its sidecar frames. */
export const sendFramed = (
  connection: Pick<Connection, "binary" | "send">,
  envelope: Decoded,
  json: string,
  sidecarChunks: boolean
): Effect.Effect<void, TransportError> => {
  const sidecar = sidecarChunks && connection.binary ? toSidecar(envelope) : undefined
  return sidecar === undefined
    ? connection.send(json)
    : Effect.forEach([sidecar.json, ...sidecar.frames], connection.send, { discard: true })
}
