/** Artifacts over a real WebSocket (RFC §16, §11.3): put and fetch inline and as sidecar frames, refusals. */
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Encoding, Stream } from "effect"
import { createHash } from "node:crypto"
import * as Client from "../../../src/client/Client.js"
import { encode as encodeFrame } from "../../../src/protocol/Sidecar.js"
import { Acceptor } from "../../../src/transport/Transport.js"
import * as WebSocket from "../../../src/transport/WebSocket.js"
import { bytesOf, chunked } from "../../store/ArtifactStoreSuite.js"
import { collectUntil, field, open, serverLayer, webSocket } from "../../support/Harness.js"

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex")
const collect = <E>(stream: Stream.Stream<Uint8Array, E>) =>
  Effect.map(Stream.runCollect(stream), (chunks) => new Uint8Array(Buffer.concat(Chunk.toReadonlyArray(chunks))))

const server = () =>
  serverLayer({
    transport: webSocket,
    runtime: { maxArtifactBytes: 8 * 1024 * 1024, artifactQuotaBytes: 12 * 1024 * 1024 }
  })

describe("artifacts over WebSocket", () => {
  {
    for (
      const [size, encoding] of [[0, "base64"], [1, "base64"], [0, "sidecar"], [1, "sidecar"], [600_000, "base64"], [
        5 * 1024 * 1024,
        "sidecar"
      ]] as const
    ) {
      it.scopedLive(
        `R16.2-1 R16.2-2 R11.3-3 R22-2 put and fetch ${size} bytes as ${encoding}: same bytes, size and sha256`,
        () =>
          Effect.gen(function*() {
            const session = yield* open()
            const bytes = bytesOf(size)
            const ref = yield* session.putArtifact(bytes, { mediaType: "application/x-test", encoding })
            assert.strictEqual(ref.size, size)
            assert.strictEqual(ref.sha256, sha256(bytes))
            assert.strictEqual(ref.uri, `arcp://session/${session.id}/artifact/${ref.artifact_id}`)
            assert.strictEqual(ref.media_type, "application/x-test")
            assert.isString(ref.expires_at)
            const back = yield* collect(session.fetchArtifact(ref, { encoding }))
            assert.strictEqual(back.byteLength, size)
            assert.strictEqual(sha256(back), sha256(bytes))
          }).pipe(Effect.provide(server())),
        60_000
      )
    }

    it.scopedLive(
      "R16.2-1 R16.3-1 R11.3-3 R11.3-6 R22-2 a streamed put of unknown length goes as sidecar frames",
      () =>
        Effect.gen(function*() {
          const session = yield* open()
          assert.deepStrictEqual(session.capabilities.binary_encoding, ["base64", "sidecar"])
          assert.strictEqual(session.capabilities.artifacts, true)
          assert.deepStrictEqual(session.capabilities.artifact_retention, {
            default_seconds: 86_400,
            max_seconds: 604_800
          })
          const bytes = bytesOf(3 * 1024 * 1024 + 17)
          const ref = yield* session.putArtifact(chunked(bytes, 100_000), { mediaType: "application/octet-stream" })
          assert.strictEqual(ref.sha256, sha256(bytes))
          assert.strictEqual(sha256(yield* collect(session.fetchArtifact(ref.artifact_id))), sha256(bytes))
        }).pipe(Effect.provide(server())),
      60_000
    )

    it.scopedLive(
      "R16.2-2 R16.2-3 another principal's fetch and release are NOT_FOUND; release ends the artifact",
      () =>
        Effect.gen(function*() {
          const alice = yield* open()
          const bob = yield* open({ credentials: { scheme: "bearer", token: "other-token" } })
          const ref = yield* alice.putArtifact(bytesOf(10), { mediaType: "text/plain" })
          const stolen = yield* Effect.flip(collect(bob.fetchArtifact(ref)))
          assert.strictEqual(stolen._tag === "ArcpError" ? stolen.code : stolen._tag, "NOT_FOUND")
          const missing = yield* Effect.flip(collect(bob.fetchArtifact("art_nonexistent")))
          assert.strictEqual(
            missing._tag === "ArcpError" ? missing.message.replace(/art_\w+/, "X") : "",
            "no artifact X"
          )
          assert.strictEqual(stolen._tag === "ArcpError" ? stolen.message.replace(/art_\w+/, "X") : "", "no artifact X")
          const released = yield* Effect.flip(bob.request("artifact.release", { artifact_id: ref.artifact_id }))
          assert.strictEqual(released._tag === "ArcpError" ? released.code : released._tag, "NOT_FOUND")
          // a second session of the same principal may fetch it
          const again = yield* open()
          assert.strictEqual((yield* collect(again.fetchArtifact(ref))).byteLength, 10)
          const ack = yield* alice.request("artifact.release", { artifact_id: ref.artifact_id })
          assert.strictEqual(ack.type, "ack")
          const gone = yield* Effect.flip(collect(alice.fetchArtifact(ref)))
          assert.strictEqual(gone._tag === "ArcpError" ? gone.code : gone._tag, "NOT_FOUND")
        }).pipe(Effect.provide(server())),
      60_000
    )

    it.scopedLive(
      "R16.2-1 quotas: past the per-artifact limit or the principal's total, RESOURCE_EXHAUSTED",
      () =>
        Effect.gen(function*() {
          const session = yield* open({ credentials: { scheme: "bearer", token: "other-token" } })
          const big = yield* Effect.flip(session.putArtifact(bytesOf(9 * 1024 * 1024), { mediaType: "x/y" }))
          assert.strictEqual(big._tag === "ArcpError" ? big.code : big._tag, "RESOURCE_EXHAUSTED")
          // a stream of unknown length is cut off as it crosses the limit
          const streamed = yield* Effect.flip(
            session.putArtifact(chunked(bytesOf(9 * 1024 * 1024), 200_000), { mediaType: "x/y" })
          )
          assert.strictEqual(streamed._tag === "ArcpError" ? streamed.code : streamed._tag, "RESOURCE_EXHAUSTED")
          const first = yield* session.putArtifact(bytesOf(7 * 1024 * 1024), { mediaType: "x/y" })
          const second = yield* Effect.flip(session.putArtifact(bytesOf(7 * 1024 * 1024), { mediaType: "x/y" }))
          assert.strictEqual(second._tag === "ArcpError" ? second.code : second._tag, "RESOURCE_EXHAUSTED")
          yield* session.request("artifact.release", { artifact_id: first.artifact_id })
          const third = yield* session.putArtifact(bytesOf(7 * 1024 * 1024), { mediaType: "x/y" })
          assert.strictEqual(third.size, 7 * 1024 * 1024)
          // the session carries on
          yield* session.ping
        }).pipe(Effect.provide(server())),
      60_000
    )

    it.scopedLive(
      "R16.2-1 a declared sha256 or size that the bytes miss fails DATA_LOSS and stores nothing",
      () =>
        Effect.gen(function*() {
          const session = yield* open()
          const bytes = bytesOf(1000)
          const inline = yield* Effect.flip(session.request("artifact.put", {
            media_type: "x/y",
            data: Encoding.encodeBase64(bytes),
            sha256: "00".repeat(32)
          }))
          assert.strictEqual(inline._tag === "ArcpError" ? inline.code : inline._tag, "DATA_LOSS")
          const size = yield* Effect.flip(session.request("artifact.put", {
            media_type: "x/y",
            data: Encoding.encodeBase64(bytes),
            size: 999
          }))
          assert.strictEqual(size._tag === "ArcpError" ? size.code : size._tag, "DATA_LOSS")
        }).pipe(Effect.provide(server())),
      60_000
    )

    it.scopedLive(
      "R11.3-3 R22-2 stray, gapped and truncated sidecar frames are refused; nothing half-stored; the session lives",
      () =>
        Effect.gen(function*() {
          const acceptor = yield* Acceptor
          const connection = yield* WebSocket.connect(acceptor.address)
          const session = yield* Client.connect(connection, { credentials: { scheme: "bearer", token: "test-token" } })
          const messages = yield* session.messages
          // a frame nobody announced
          yield* connection.send(
            encodeFrame({ kind: "transfer", key: "msg_stray", sequence: 0, final: true, payload: bytesOf(5) })
          )
          const [stray] = yield* collectUntil(messages, (m) => m.type === "nack")
          assert.strictEqual(field(stray, "code"), "INVALID_ARGUMENT")
          assert.strictEqual(stray?.correlation_id, "msg_stray")
          // not even a header
          yield* connection.send(new Uint8Array([9, 9]))
          const [garbage] = yield* collectUntil(messages, (m) => m.type === "nack")
          assert.strictEqual(field(garbage, "code"), "INVALID_ARGUMENT")
          // a put whose frames skip a sequence number
          const putId = yield* session.send("artifact.put", { media_type: "x/y", encoding: "sidecar", size: 20 })
          yield* connection.send(
            encodeFrame({ kind: "transfer", key: putId, sequence: 0, final: false, payload: bytesOf(10) })
          )
          yield* connection.send(
            encodeFrame({ kind: "transfer", key: putId, sequence: 2, final: true, payload: bytesOf(10) })
          )
          const [gap] = yield* collectUntil(messages, (m) => m.correlation_id === putId)
          assert.strictEqual(gap?.type, "nack")
          assert.strictEqual(field(gap, "code"), "DATA_LOSS")
          // a put whose frames end short of the declared size
          const shortId = yield* session.send("artifact.put", { media_type: "x/y", encoding: "sidecar", size: 20 })
          yield* connection.send(
            encodeFrame({ kind: "transfer", key: shortId, sequence: 0, final: true, payload: bytesOf(10) })
          )
          const [short] = yield* collectUntil(messages, (m) => m.correlation_id === shortId)
          assert.strictEqual(field(short, "code"), "DATA_LOSS")
          // open transfers are bounded per connection
          for (let i = 0; i < 32; i++) yield* session.send("artifact.put", { media_type: "x/y", encoding: "sidecar" })
          const overId = yield* session.send("artifact.put", { media_type: "x/y", encoding: "sidecar" })
          const [over] = yield* collectUntil(messages, (m) => m.correlation_id === overId)
          assert.strictEqual(field(over, "code"), "RESOURCE_EXHAUSTED")
          yield* session.ping
        }).pipe(Effect.provide(server())),
      60_000
    )
  }
})
