import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, Layer, Option, Queue, Schedule, Stream } from "effect"
import { existsSync, readdirSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { ArtifactStore } from "../../src/store/ArtifactStore.js"
import * as FileArtifactStore from "../../src/store/FileArtifactStore.js"
import { tempDir } from "../support/TempDir.js"
import { artifactStoreSuite, bytesOf, chunked, request, sha256 } from "./ArtifactStoreSuite.js"

const freshDir = tempDir("arcp-artifacts-")
const options = (dir: string) => ({ directory: join(dir, "artifacts"), filename: join(dir, "arcp.db") })

describe("FileArtifactStore", () => {
  artifactStoreSuite(() => Layer.unwrapScoped(Effect.map(freshDir, (dir) => FileArtifactStore.layer(options(dir)))))

  it.scoped("R16.3-3 records and bytes survive a restart; stale temporary files are cleared", () =>
    Effect.gen(function*() {
      const dir = yield* freshDir
      const bytes = bytesOf(200_000)
      yield* Effect.gen(function*() {
        const store = yield* ArtifactStore
        yield* store.put(request("art_r"), chunked(bytes))
      }).pipe(Effect.provide(FileArtifactStore.layer(options(dir))))
      // a crash midway through a put leaves a temporary file behind
      writeFileSync(join(dir, "artifacts", ".tmp", "art_x.123"), "partial")
      yield* Effect.gen(function*() {
        const store = yield* ArtifactStore
        const record = yield* store.get("art_r")
        assert.isTrue(Option.isSome(record))
        if (Option.isNone(record)) return
        const back = Buffer.concat(Chunk.toReadonlyArray(yield* Stream.runCollect(store.read(record.value))))
        assert.strictEqual(sha256(back), sha256(bytes))
        assert.deepStrictEqual(readdirSync(join(dir, "artifacts", ".tmp")), [])
      }).pipe(Effect.provide(FileArtifactStore.layer(options(dir))))
    }))

  it.scopedLive("R16.3-3 a put is written to disk as its bytes arrive, never held whole", () =>
    Effect.gen(function*() {
      const dir = yield* freshDir
      yield* Effect.gen(function*() {
        const store = yield* ArtifactStore
        // a source the test feeds by hand: each offer waits until the store has taken the chunk before
        const chunks = yield* Queue.bounded<Uint8Array>(1)
        const source = Stream.fromQueue(chunks).pipe(Stream.takeWhile((c) => c.byteLength > 0))
        const put = yield* Effect.fork(store.put(request("art_flow"), source))
        const onDisk = Effect.sync(() =>
          readdirSync(join(dir, "artifacts", ".tmp")).reduce(
            (sum, name) => sum + statSync(join(dir, "artifacts", ".tmp", name)).size,
            0
          )
        )
        for (let i = 1; i <= 8; i++) yield* Queue.offer(chunks, bytesOf(256 * 1024, i))
        // before the source has ended, what it gave is already in the file (a store that buffered would show 0)
        yield* onDisk.pipe(
          Effect.repeat({ until: (n) => n >= 7 * 256 * 1024, schedule: Schedule.spaced("5 millis") }),
          Effect.timeout("20 seconds")
        )
        assert.isAtLeast(yield* onDisk, 7 * 256 * 1024)
        yield* Queue.offer(chunks, new Uint8Array(0))
        const record = yield* Fiber.join(put)
        assert.strictEqual(record.size, 8 * 256 * 1024)
      }).pipe(Effect.provide(FileArtifactStore.layer(options(dir))))
    }))

  it.scoped("R16.2-1 R16.3-3 a failed put leaves no file behind; a delete removes the bytes from disk", () =>
    Effect.gen(function*() {
      const dir = yield* freshDir
      yield* Effect.gen(function*() {
        const store = yield* ArtifactStore
        const bytes = bytesOf(100_000)
        yield* Effect.flip(store.put(request("art_bad", { expectedSha256: "ab".repeat(32) }), chunked(bytes)))
        const files = (d: string): Array<string> =>
          readdirSync(d, { withFileTypes: true }).flatMap((e) =>
            e.isDirectory() ? files(join(d, e.name)) : [join(d, e.name)]
          )
        assert.deepStrictEqual(files(join(dir, "artifacts")), [])
        const record = yield* store.put(request("art_ok"), chunked(bytes))
        const path = join(dir, "artifacts", record.sha256.slice(0, 2), record.sha256)
        assert.isTrue(existsSync(path))
        yield* store.delete("art_ok")
        assert.isFalse(existsSync(path))
      }).pipe(Effect.provide(FileArtifactStore.layer(options(dir))))
    }))
})
