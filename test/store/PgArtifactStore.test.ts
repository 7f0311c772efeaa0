/** The ArtifactStore contract with records in PostgreSQL, and two runtimes sharing one database and one directory. */
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Context, Effect, Layer, Option, Stream } from "effect"
import { existsSync } from "node:fs"
import { join } from "node:path"
import { ArtifactStore } from "../../src/store/ArtifactStore.js"
import * as PostgresStore from "../../src/store/postgres/PostgresStore.js"
import { pgUnavailable, usePgCluster } from "../support/cluster/Postgres.js"
import { tempDir } from "../support/TempDir.js"
import { artifactStoreSuite, bytesOf, chunked, request, sha256 } from "./ArtifactStoreSuite.js"

const freshDir = tempDir("arcp-pg-artifacts-")

describe.skipIf(pgUnavailable !== undefined)("PgArtifactStore", () => {
  const { database } = usePgCluster()
  artifactStoreSuite(() =>
    Layer.unwrapScoped(
      Effect.zipWith(
        database,
        freshDir,
        (url, dir) => PostgresStore.artifactStoreLayer({ url, artifactsDir: join(dir, "bytes") })
      )
    )
  )

  it.scoped("R16.3-3 two runtimes on one database and one directory: a put on one reads on the other; shared bytes outlive one delete", () =>
    Effect.gen(function*() {
      const url = yield* database
      const dir = yield* freshDir
      const open = Effect.map(
        Layer.build(PostgresStore.artifactStoreLayer({ url, artifactsDir: dir })),
        (context) => Context.get(context, ArtifactStore)
      )
      const a = yield* open
      const b = yield* open
      const bytes = bytesOf(100_000)
      const one = yield* a.put(request("art_a"), chunked(bytes))
      yield* b.put(request("art_b"), chunked(bytes))
      const seen = yield* b.get("art_a")
      assert.deepStrictEqual(Option.getOrUndefined(seen), one)
      const back = Buffer.concat(Chunk.toReadonlyArray(yield* Stream.runCollect(b.read(one))))
      assert.strictEqual(sha256(back), one.sha256)
      const path = join(dir, one.sha256.slice(0, 2), one.sha256)
      assert.isTrue(yield* b.delete("art_a"))
      assert.isFalse(yield* a.delete("art_a"), "gone for both")
      assert.isTrue(existsSync(path), "art_b still holds the bytes")
      assert.isTrue(yield* a.delete("art_b"))
      assert.isFalse(existsSync(path))
    }))
})
