/** Artifacts in memory, for tests and `--db :memory:`: nothing survives the process, and bytes are held whole. */
import { Chunk, Effect, Layer, Option, Stream } from "effect"
import { type ArtifactRecord, ArtifactStore, check, measure } from "./ArtifactStore.js"

export const make = Effect.sync(() => {
  const artifacts = new Map<string, { readonly record: ArtifactRecord; readonly chunks: ReadonlyArray<Uint8Array> }>()
  return ArtifactStore.of({
    put: Effect.fnUntraced(function*(request, bytes) {
      const measured = yield* measure(bytes, request.maxBytes)
      const chunks = Chunk.toReadonlyArray(yield* Stream.runCollect(measured.stream))
      const totals = yield* measured.result
      yield* check(request, totals)
      const { expectedSha256: _sha, expectedSize: _size, maxBytes: _max, ...fields } = request
      const record: ArtifactRecord = { ...fields, ...totals }
      yield* Effect.sync(() => artifacts.set(record.artifact_id, { record, chunks }))
      return record
    }),
    get: (id) => Effect.sync(() => Option.map(Option.fromNullable(artifacts.get(id)), (a) => a.record)),
    read: (record) => Stream.suspend(() => Stream.fromIterable(artifacts.get(record.artifact_id)?.chunks ?? [])),
    delete: (id) => Effect.sync(() => artifacts.delete(id)),
    expired: (now) =>
      Effect.sync(() => [...artifacts.values()].map((a) => a.record).filter((r) => r.expires_at <= now)),
    usage: (principal) =>
      Effect.sync(() =>
        [...artifacts.values()].reduce((sum, a) => (a.record.principal === principal ? sum + a.record.size : sum), 0)
      )
  })
})

/** An empty in-memory artifact store. */
export const layer: Layer.Layer<ArtifactStore> = Layer.effect(ArtifactStore, make)
