/** The ArtifactStore contract, run against each backend (memory, files + SQLite). */
import { assert, it } from "@effect/vitest"
import { Chunk, Effect, type Layer, Option, Stream } from "effect"
import { createHash } from "node:crypto"
import { ArtifactStore, type ArtifactStoreError, type PutRequest } from "../../src/store/ArtifactStore.js"

export const request = (id: string, extra: Partial<PutRequest> = {}): PutRequest => ({
  artifact_id: id,
  principal: "alice",
  session_id: "sess_1",
  media_type: "application/octet-stream",
  created_at: 1_000,
  expires_at: 61_000,
  maxBytes: 64 * 1024 * 1024,
  ...extra
})

export const bytesOf = (size: number, seed = 7): Uint8Array => {
  const out = new Uint8Array(size)
  for (let i = 0; i < size; i++) out[i] = (i * 31 + seed) & 0xff
  return out
}

export const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex")

/** The bytes in chunks of `chunk` bytes. */
export const chunked = (bytes: Uint8Array, chunk = 65_536): Stream.Stream<Uint8Array> =>
  Stream.fromIterable(
    Array.from({ length: Math.ceil(bytes.byteLength / chunk) }, (_, i) => bytes.subarray(i * chunk, (i + 1) * chunk))
  )

const concat = (chunks: ReadonlyArray<Uint8Array>) => new Uint8Array(Buffer.concat(chunks))

export const artifactStoreSuite = (layer: () => Layer.Layer<ArtifactStore, ArtifactStoreError>) => {
  const withStore = <A, E>(body: Effect.Effect<A, E, ArtifactStore>) => Effect.provide(body, layer())

  for (const size of [0, 1, 300_000]) {
    it.effect(`R16.3-3 a put of ${size} bytes reads back the same bytes, size and sha256`, () =>
      withStore(Effect.gen(function*() {
        const store = yield* ArtifactStore
        const bytes = bytesOf(size)
        const record = yield* store.put(
          request("art_a", { expectedSize: size, expectedSha256: sha256(bytes) }),
          chunked(bytes)
        )
        assert.strictEqual(record.size, size)
        assert.strictEqual(record.sha256, sha256(bytes))
        const back = concat(Chunk.toReadonlyArray(yield* Stream.runCollect(store.read(record))))
        assert.deepStrictEqual(back, bytes)
        assert.deepStrictEqual(Option.getOrUndefined(yield* store.get("art_a")), record)
      })))
  }

  it.effect("R16.2-1 R16.3-3 a wrong declared sha256 or size stores nothing", () =>
    withStore(Effect.gen(function*() {
      const store = yield* ArtifactStore
      const bytes = bytesOf(1000)
      const digest = yield* Effect.flip(
        store.put(request("art_d", { expectedSha256: "00".repeat(32) }), chunked(bytes))
      )
      assert.strictEqual(digest.reason, "DigestMismatch")
      const size = yield* Effect.flip(store.put(request("art_s", { expectedSize: 999 }), chunked(bytes)))
      assert.strictEqual(size.reason, "SizeMismatch")
      assert.isTrue(Option.isNone(yield* store.get("art_d")))
      assert.isTrue(Option.isNone(yield* store.get("art_s")))
      assert.strictEqual(yield* store.usage("alice"), 0)
    })))

  it.effect("R16.2-1 more bytes than the limit fail TooLarge and store nothing", () =>
    withStore(Effect.gen(function*() {
      const store = yield* ArtifactStore
      const error = yield* Effect.flip(store.put(request("art_big", { maxBytes: 100 }), chunked(bytesOf(1000), 60)))
      assert.strictEqual(error.reason, "TooLarge")
      assert.isTrue(Option.isNone(yield* store.get("art_big")))
    })))

  it.effect("R16.2-1 a stream that fails midway stores nothing and passes its error on", () =>
    withStore(Effect.gen(function*() {
      const store = yield* ArtifactStore
      const broken = Stream.concat(chunked(bytesOf(1000)), Stream.fail("cut" as const))
      assert.strictEqual(yield* Effect.flip(store.put(request("art_cut"), broken)), "cut")
      assert.isTrue(Option.isNone(yield* store.get("art_cut")))
    })))

  it.effect("R16.2-3 delete removes the record; identical bytes stored twice survive one delete", () =>
    withStore(Effect.gen(function*() {
      const store = yield* ArtifactStore
      const bytes = bytesOf(5000)
      const one = yield* store.put(request("art_1"), chunked(bytes))
      const two = yield* store.put(request("art_2"), chunked(bytes))
      assert.isTrue(yield* store.delete("art_1"))
      assert.isFalse(yield* store.delete("art_1"))
      assert.isTrue(Option.isNone(yield* store.get(one.artifact_id)))
      const back = concat(Chunk.toReadonlyArray(yield* Stream.runCollect(store.read(two))))
      assert.deepStrictEqual(back, bytes)
    })))

  it.effect("R16.3-2 expired lists records at or past their expiry; usage sums a principal's sizes", () =>
    withStore(Effect.gen(function*() {
      const store = yield* ArtifactStore
      yield* store.put(request("art_e1", { expires_at: 10 }), chunked(bytesOf(10)))
      yield* store.put(request("art_e2", { expires_at: 20 }), chunked(bytesOf(20)))
      yield* store.put(request("art_e3", { expires_at: 30, principal: "bob" }), chunked(bytesOf(30)))
      assert.deepStrictEqual((yield* store.expired(20)).map((r) => r.artifact_id).sort(), ["art_e1", "art_e2"])
      assert.strictEqual(yield* store.usage("alice"), 30)
      assert.strictEqual(yield* store.usage("bob"), 30)
      assert.strictEqual(yield* store.usage("carol"), 0)
    })))
}
