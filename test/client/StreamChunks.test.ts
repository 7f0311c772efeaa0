/** The client's reassembly of sidecar stream chunks (RFC §11.3), message by message. */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { createHash } from "node:crypto"
import { makeAssembler, MAX_PENDING_BYTES } from "../../src/client/session/StreamChunks.js"
import { make as makeEnvelope } from "../../src/protocol/Envelope.js"
import { JobId, StreamId } from "../../src/protocol/Ids.js"
import type { Decoded } from "../../src/protocol/Message.js"
import type { SidecarFrame } from "../../src/protocol/Sidecar.js"

const streamId = StreamId.make("str_01")
const jobId = JobId.make("job_01")
const bytes = new Uint8Array([1, 2, 3, 4, 5])
const hex = createHash("sha256").update(bytes).digest("hex")

const announce = (sequence: number, size = bytes.byteLength) =>
  makeEnvelope("stream.chunk", { sequence, encoding: "sidecar" as const, size, sha256: hex, frames: 1 }, {
    stream_id: streamId,
    job_id: jobId
  })
const frame = (sequence: number, payload: Uint8Array, more: Partial<SidecarFrame> = {}): SidecarFrame => ({
  kind: "stream",
  key: streamId,
  sequence,
  final: true,
  payload,
  ...more
})
const payloadOf = (messages: ReadonlyArray<Decoded>) => messages.map((m) => [m.type, m.payload])

describe("sidecar stream chunk reassembly", () => {
  it.effect("R11.3-4 a chunk is held until its frames arrive, then handed on as base64", () =>
    Effect.gen(function*() {
      const a = makeAssembler()
      assert.deepStrictEqual(yield* a.onMessage(yield* announce(0)), [])
      assert.deepStrictEqual(yield* a.onFrame(frame(0, bytes.subarray(0, 2), { final: false })), [])
      const [chunk] = yield* a.onFrame(frame(0, bytes.subarray(2)))
      assert.deepStrictEqual(chunk?.payload, { sequence: 0, encoding: "base64", data: "AQIDBAU=" })
      assert.strictEqual(chunk?.stream_id, streamId)
    }))

  it.effect("R11.3-4 a frame of the wrong sequence, or an abort frame, fails the stream DATA_LOSS and drops what follows", () =>
    Effect.gen(function*() {
      for (const bad of [frame(1, bytes), frame(0, new Uint8Array(0), { aborted: true })]) {
        const a = makeAssembler()
        yield* a.onMessage(yield* announce(0))
        const [error] = yield* a.onFrame(bad)
        assert.strictEqual(error?.type, "stream.error")
        assert.strictEqual(Reflect.get(error?.payload ?? {}, "code"), "DATA_LOSS")
        assert.strictEqual(error?.job_id, jobId)
        assert.deepStrictEqual(payloadOf(yield* a.onMessage(yield* announce(1))), [])
        assert.deepStrictEqual(yield* a.onFrame(frame(1, bytes)), [])
      }
    }))

  it.effect("R11.3-4 too many bytes, or an announcement past the client's bound, fail the stream", () =>
    Effect.gen(function*() {
      const a = makeAssembler()
      yield* a.onMessage(yield* announce(0, 2))
      const [long] = yield* a.onFrame(frame(0, bytes))
      assert.strictEqual(Reflect.get(long?.payload ?? {}, "code"), "DATA_LOSS")
      const b = makeAssembler()
      const [huge] = yield* b.onMessage(yield* announce(0, MAX_PENDING_BYTES + 1))
      assert.strictEqual(Reflect.get(huge?.payload ?? {}, "code"), "RESOURCE_EXHAUSTED")
    }))
})
