/** The Artifacts service (RFC §16.3): retention under TestClock, release, ttl bounds, restart with files on disk. */
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Layer, Option, Stream, TestClock } from "effect"
import { join } from "node:path"
import { Artifacts } from "../../src/runtime/artifacts/Artifacts.js"
import * as ArtifactsService from "../../src/runtime/artifacts/Artifacts.js"
import * as RuntimeConfig from "../../src/runtime/RuntimeConfig.js"
import { ArtifactStore, type ArtifactStoreError } from "../../src/store/ArtifactStore.js"
import * as FileArtifactStore from "../../src/store/FileArtifactStore.js"
import * as MemoryArtifactStore from "../../src/store/MemoryArtifactStore.js"
import { bytesOf, chunked } from "../store/ArtifactStoreSuite.js"
import { tempDir } from "../support/TempDir.js"

const config = RuntimeConfig.layer({
  artifactRetention: { defaultSeconds: 60, maxSeconds: 120 },
  artifactSweepInterval: "10 seconds"
})
const service = (store: Layer.Layer<ArtifactStore, ArtifactStoreError>) =>
  ArtifactsService.layer.pipe(Layer.provideMerge(Layer.merge(config, store)))
const owner = { principal: "alice", sessionId: "sess_1" }
const code = (e: { readonly code?: string; readonly _tag: string }) => e.code ?? e._tag

describe("Artifacts", () => {
  it.effect("R16.3-1 R16.3-2 the retention schedule removes an artifact once it expires; its fetch is then NOT_FOUND", () =>
    Effect.gen(function*() {
      const artifacts = yield* Artifacts
      const store = yield* ArtifactStore
      const ref = yield* artifacts.put(owner, { mediaType: "x/y" }, chunked(bytesOf(100)))
      assert.strictEqual(ref.expires_at, "1970-01-01T00:01:00.000Z")
      yield* TestClock.adjust("59 seconds")
      assert.strictEqual((yield* artifacts.open("alice", ref.artifact_id)).ref.size, 100)
      yield* TestClock.adjust("1 second")
      // expired: refused at once, even before the sweep removes it
      assert.strictEqual(code(yield* Effect.flip(artifacts.open("alice", ref.artifact_id))), "NOT_FOUND")
      yield* TestClock.adjust("10 seconds")
      assert.isTrue(Option.isNone(yield* store.get(ref.artifact_id)), "the sweep removed it from the store")
    }).pipe(Effect.provide(service(MemoryArtifactStore.layer))))

  it.effect("R16.3-2 a put may ask for less than the maximum retention, never more", () =>
    Effect.gen(function*() {
      const artifacts = yield* Artifacts
      const short = yield* artifacts.put(owner, { mediaType: "x/y", ttlSeconds: 5 }, chunked(bytesOf(1)))
      assert.strictEqual(short.expires_at, "1970-01-01T00:00:05.000Z")
      const long = yield* artifacts.put(owner, { mediaType: "x/y", ttlSeconds: 120 }, chunked(bytesOf(1)))
      assert.strictEqual(long.expires_at, "1970-01-01T00:02:00.000Z")
      const over = yield* Effect.flip(artifacts.put(owner, { mediaType: "x/y", ttlSeconds: 121 }, chunked(bytesOf(1))))
      assert.strictEqual(code(over), "INVALID_ARGUMENT")
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual(code(yield* Effect.flip(artifacts.open("alice", short.artifact_id))), "NOT_FOUND")
      assert.strictEqual((yield* artifacts.open("alice", long.artifact_id)).ref.size, 1)
    }).pipe(Effect.provide(service(MemoryArtifactStore.layer))))

  it.effect("R16.2-3 release removes at once; another principal's release or fetch is NOT_FOUND", () =>
    Effect.gen(function*() {
      const artifacts = yield* Artifacts
      const ref = yield* artifacts.put(owner, { mediaType: "x/y" }, chunked(bytesOf(10)))
      assert.strictEqual(code(yield* Effect.flip(artifacts.open("bob", ref.artifact_id))), "NOT_FOUND")
      assert.strictEqual(code(yield* Effect.flip(artifacts.release("bob", ref.artifact_id))), "NOT_FOUND")
      yield* artifacts.release("alice", ref.artifact_id)
      assert.strictEqual(code(yield* Effect.flip(artifacts.open("alice", ref.artifact_id))), "NOT_FOUND")
      assert.strictEqual(code(yield* Effect.flip(artifacts.release("alice", ref.artifact_id))), "NOT_FOUND")
    }).pipe(Effect.provide(service(MemoryArtifactStore.layer))))

  it.scoped("R16.3-2 R16.3-3 artifacts on disk survive a restart, and expiry still applies after it", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("arcp-artifacts-restart-")
      const files = FileArtifactStore.layer({ directory: join(dir, "artifacts"), filename: join(dir, "arcp.db") })
      const bytes = bytesOf(300_000)
      const [kept, expiring] = yield* Effect.gen(function*() {
        const artifacts = yield* Artifacts
        return [
          yield* artifacts.put(owner, { mediaType: "x/y", ttlSeconds: 120 }, chunked(bytes)),
          yield* artifacts.put(owner, { mediaType: "x/y", ttlSeconds: 30 }, chunked(bytesOf(5, 1)))
        ] as const
      }).pipe(Effect.provide(service(files)))
      // the runtime is down while the second artifact's lifetime runs out
      yield* TestClock.adjust("31 seconds")
      yield* Effect.gen(function*() {
        const artifacts = yield* Artifacts
        const store = yield* ArtifactStore
        const opened = yield* artifacts.open("alice", kept.artifact_id)
        const back = Buffer.concat(Chunk.toReadonlyArray(yield* Stream.runCollect(opened.bytes)))
        assert.deepStrictEqual(new Uint8Array(back), bytes)
        assert.strictEqual(code(yield* Effect.flip(artifacts.open("alice", expiring.artifact_id))), "NOT_FOUND")
        // the sweep at start removed it from disk and index
        assert.isTrue(Option.isNone(yield* store.get(expiring.artifact_id)))
      }).pipe(Effect.provide(service(files)))
    }))
})
