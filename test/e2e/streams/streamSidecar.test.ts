/**
 * Binary stream chunks as sidecar frames over a real WebSocket on 127.0.0.1 (RFC §11.3, §22): a 5 MB
 * stream in 256 KiB chunks arrives intact as JSON announcements plus binary frames when both ends
 * offer `sidecar`, and as base64 chunks when the client does not; a corrupted frame ends that stream
 * with stream.error DATA_LOSS while the job and the session carry on.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { createHash } from "node:crypto"
import * as Client from "../../../src/client/Client.js"
import * as Frame from "../../../src/protocol/Sidecar.js"
import * as Tools from "../../../src/runtime/Tools.js"
import type { Connection } from "../../../src/transport/Transport.js"
import { Acceptor } from "../../../src/transport/Transport.js"
import * as WebSocket from "../../../src/transport/WebSocket.js"
import { field, serverLayer, TOKEN, webSocket } from "../../support/Harness.js"

const MB = 1024 * 1024
const CHUNK = 256 * 1024

/** `size` deterministic pseudo-random bytes. */
const bytesOf = (size: number) => {
  const out = new Uint8Array(size)
  let state = 0x9e3779b9
  for (let i = 0; i < size; i++) {
    state ^= state << 13
    state ^= state >>> 17
    state ^= state << 5
    out[i] = state & 0xff
  }
  return out
}
const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex")

/** `blob {size}`: a binary stream of `size` bytes in 256 KiB chunks; the result is their sha256. */
const blob = Tools.make({
  name: "blob",
  parameters: Tools.AnyArguments,
  handler: (args, ctx) =>
    Effect.gen(function*() {
      const bytes = bytesOf(Number(args["size"]))
      const stream = yield* ctx.stream({ kind: "binary", content_type: "application/x-test" })
      for (let offset = 0; offset < bytes.byteLength; offset += CHUNK) {
        yield* stream.write(bytes.subarray(offset, offset + CHUNK))
      }
      yield* stream.close()
      return sha256(bytes)
    })
})

/** `big_chunk`: one 600 KiB chunk (more than one frame) and one empty chunk. */
const bigChunk = Tools.make({
  name: "big_chunk",
  parameters: Tools.AnyArguments,
  handler: (_, ctx) =>
    Effect.gen(function*() {
      const stream = yield* ctx.stream({ kind: "binary" })
      yield* stream.write(bytesOf(600 * 1024))
      yield* stream.write(new Uint8Array(0))
      yield* stream.close()
    })
})

/** What the client's socket received, and a hook to tamper with binary frames on their way in. */
const watched = (connection: Connection, tamper: (frame: Uint8Array, index: number) => Uint8Array = (f) => f) => {
  const seen = { binary: 0, sidecarChunks: 0, base64Chunks: 0 }
  const incoming = connection.incoming.pipe(Stream.map((frame) => {
    if (frame._tag === "Binary") return { ...frame, data: tamper(frame.data, seen.binary++) }
    if (frame._tag === "Text" && frame.text.includes("\"stream.chunk\"")) {
      if (frame.text.includes("\"encoding\":\"sidecar\"")) seen.sidecarChunks++
      if (frame.text.includes("\"encoding\":\"base64\"")) seen.base64Chunks++
    }
    return frame
  }))
  return { connection: { ...connection, incoming }, seen }
}

const session = (options: {
  readonly encodings?: ReadonlyArray<"base64" | "sidecar">
  readonly tamper?: (frame: Uint8Array, index: number) => Uint8Array
}) =>
  Effect.gen(function*() {
    const acceptor = yield* Acceptor
    const { connection, seen } = watched(yield* WebSocket.connect(acceptor.address), options.tamper)
    const opened = yield* Client.connect(connection, {
      credentials: { scheme: "bearer", token: TOKEN },
      ...(options.encodings !== undefined
        ? { capabilities: { artifacts: true, binary_encoding: [...options.encodings] } }
        : {})
    })
    return { session: opened, seen }
  })

const run = (s: Client.Session, size: number) =>
  Effect.gen(function*() {
    const job = yield* s.invoke("blob", { size })
    const events = [...yield* Stream.runCollect(job.events)]
    const chunks = events.filter((m) => m.type === "stream.chunk")
    const bytes = Buffer.concat(chunks.map((m) => Client.chunkBytes(m) ?? new Uint8Array(0)))
    return { events, chunks, bytes, outcome: yield* job.outcome }
  })

const server = serverLayer({ transport: webSocket, tools: [blob, bigChunk] })

describe("binary stream chunks as sidecar frames (WebSocket)", () => {
  it.scopedLive(
    "R11.3-3 R11.3-4 R22-2 a 5 MB binary stream in 256 KiB chunks arrives intact as sidecar frames",
    () =>
      Effect.gen(function*() {
        const { seen, session: s } = yield* session({})
        assert.deepStrictEqual(s.capabilities.binary_encoding, ["base64", "sidecar"])
        const { bytes, chunks, outcome } = yield* run(s, 5 * MB)
        assert.strictEqual(chunks.length, 20)
        assert.deepStrictEqual(chunks.map((m) => field(m, "sequence")), [...Array(20).keys()])
        // the application reads the same chunk shape as with base64
        assert.deepStrictEqual(
          { ...chunks[0]?.payload, data: undefined },
          { sequence: 0, data: undefined, encoding: "base64", content_type: "application/x-test" }
        )
        assert.strictEqual(bytes.byteLength, 5 * MB)
        assert.strictEqual(sha256(bytes), outcome)
        assert.strictEqual(seen.sidecarChunks, 20)
        assert.strictEqual(seen.base64Chunks, 0)
        assert.strictEqual(seen.binary, 20, "one 256 KiB frame per chunk")
      }).pipe(Effect.provide(server)),
    60_000
  )

  it.scopedLive(
    "R11.3-3 R22-2 without sidecar offered the same stream arrives base64, intact",
    () =>
      Effect.gen(function*() {
        const { seen, session: s } = yield* session({ encodings: ["base64"] })
        assert.deepStrictEqual(s.capabilities.binary_encoding, ["base64"])
        const { bytes, chunks, outcome } = yield* run(s, 5 * MB)
        assert.strictEqual(chunks.length, 20)
        assert.strictEqual(sha256(bytes), outcome)
        assert.strictEqual(seen.binary, 0)
        assert.strictEqual(seen.sidecarChunks, 0)
        assert.strictEqual(seen.base64Chunks, 20)
      }).pipe(Effect.provide(server)),
    60_000
  )

  it.scopedLive(
    "R11.3-4 a chunk larger than a frame goes as several frames and is reassembled",
    () =>
      Effect.gen(function*() {
        const { seen, session: s } = yield* session({})
        const job = yield* s.invoke("big_chunk", {})
        const chunks = [...yield* Stream.runCollect(job.events)].filter((m) => m.type === "stream.chunk")
        const [first, empty] = chunks.map((m) => Client.chunkBytes(m))
        assert.strictEqual(empty?.byteLength, 0)
        assert.strictEqual(first === undefined ? "" : sha256(first), sha256(bytesOf(600 * 1024)))
        assert.strictEqual(seen.binary, 3 + 1, "600 KiB in three frames, the empty chunk in one")
      }).pipe(Effect.provide(server)),
    60_000
  )

  it.scopedLive(
    "R11.3-2 R11.3-4 a corrupted frame ends its stream with stream.error DATA_LOSS; the job and session carry on",
    () =>
      Effect.gen(function*() {
        // flips the last byte of the third binary frame (chunk 2)
        const { session: s } = yield* session({
          tamper: (frame, index) => {
            if (index !== 2) return frame
            const copy = frame.slice()
            copy[copy.length - 1] = (copy[copy.length - 1] ?? 0) ^ 0xff
            return copy
          }
        })
        const { events, outcome } = yield* run(s, MB)
        const ofStream = events.filter((m) => m.type.startsWith("stream."))
        assert.deepStrictEqual(ofStream.map((m) => m.type), [
          "stream.open",
          "stream.chunk",
          "stream.chunk",
          "stream.error"
        ])
        assert.strictEqual(field(ofStream.at(-1), "code"), "DATA_LOSS")
        assert.match(String(field(ofStream.at(-1), "message")), /chunk 2 of stream .* does not match its sha256/)
        assert.strictEqual(events.at(-1)?.type, "tool.result")
        assert.strictEqual(typeof outcome, "string")
        // the session still works: the next stream arrives whole
        const again = yield* run(s, MB)
        assert.strictEqual(sha256(again.bytes), again.outcome)
      }).pipe(Effect.provide(server)),
    60_000
  )

  it.scopedLive(
    "R11.3-4 a truncated chunk (its last frame cut short) fails its stream DATA_LOSS",
    () =>
      Effect.gen(function*() {
        const { session: s } = yield* session({
          tamper: (frame, index) => (index === 0 ? frame.subarray(0, frame.byteLength - 10) : frame)
        })
        const { events } = yield* run(s, MB)
        const error = events.find((m) => m.type === "stream.error")
        assert.strictEqual(field(error, "code"), "DATA_LOSS")
        assert.match(String(field(error, "message")), /chunk 0 of stream .* carries 262134 of its 262144 bytes/)
        assert.isFalse(events.some((m) => m.type === "stream.chunk" || m.type === "stream.close"))
      }).pipe(Effect.provide(server)),
    60_000
  )

  it.scopedLive(
    "R11.3-4 a chunk whose frames never come fails its stream DATA_LOSS when the next message of the stream arrives",
    () =>
      Effect.gen(function*() {
        // frame 1 (chunk 1) is replaced by a frame of another, unknown stream: ignored, so chunk 1 is missing
        const { session: s } = yield* session({
          tamper: (frame, index) =>
            index === 1
              ? Frame.encode({ kind: "stream", key: "stream_unknown", sequence: 0, final: true, payload: frame })
              : frame
        })
        const { events } = yield* run(s, MB)
        const ofStream = events.filter((m) => m.type.startsWith("stream."))
        assert.deepStrictEqual(ofStream.map((m) => m.type), ["stream.open", "stream.chunk", "stream.error"])
        assert.match(String(field(ofStream.at(-1), "message")), /sidecar frames of chunk 1 of stream .* never arrived/)
      }).pipe(Effect.provide(server)),
    60_000
  )
})
