/**
 * Artifacts (RFC §16): puts checked against quotas and retention, fetches
 * only by the principal that owns the artifact, release, and the retention
 * schedule that removes expired artifacts from the store (§16.3).
 */
import { Clock, Context, Duration, Effect, Layer, Option, Schedule, Stream } from "effect"
import { ArcpError } from "../../protocol/Errors.js"
import { ArtifactId, makeArtifactId } from "../../protocol/Ids.js"
import type { ArtifactRef } from "../../protocol/messages/Artifacts.js"
import { fromMillis } from "../../protocol/Timestamp.js"
import { type ArtifactRecord, ArtifactStore, type ArtifactStoreError } from "../../store/ArtifactStore.js"
import { RuntimeConfig } from "../RuntimeConfig.js"

/** Who puts or asks: artifacts belong to the principal of the session that created them. */
export interface ArtifactOwner {
  readonly principal: string
  readonly sessionId: string
}

/** What a put declares before its bytes. */
export interface PutOptions {
  readonly mediaType: string
  /** Lifetime asked for; at most `max_seconds` of the retention policy (default `default_seconds`). */
  readonly ttlSeconds?: number | undefined
  /** The bytes must add up to this (DATA_LOSS otherwise); over the per-artifact limit it is refused before any byte. */
  readonly size?: number | undefined
  /** The bytes must hash to this hex digest (DATA_LOSS otherwise). */
  readonly sha256?: string | undefined
}

/** An artifact opened for reading: its ref and its bytes. */
export interface Opened {
  readonly ref: ArtifactRef
  readonly bytes: Stream.Stream<Uint8Array, ArcpError>
}

export class Artifacts extends Context.Tag("arcp/Artifacts")<Artifacts, {
  /**
   * Stores `bytes` for `owner` and returns its ref (§16.1). Fails RESOURCE_EXHAUSTED
   * past the size limit or the principal's quota, INVALID_ARGUMENT for a ttl past
   * the retention maximum, DATA_LOSS when the bytes miss their declared size or
   * sha256; in every failure nothing is stored.
   */
  readonly put: (
    owner: ArtifactOwner,
    options: PutOptions,
    bytes: Stream.Stream<Uint8Array, ArcpError>
  ) => Effect.Effect<ArtifactRef, ArcpError>
  /**
   * Opens an artifact for `principal`. NOT_FOUND when it does not exist, has
   * expired, was released, or belongs to another principal (no existence leak).
   */
  readonly open: (principal: string, artifactId: string) => Effect.Effect<Opened, ArcpError>
  /** Releases an artifact: it is removed at once (§16.2). NOT_FOUND as for `open`. */
  readonly release: (principal: string, artifactId: string) => Effect.Effect<void, ArcpError>
  /** Removes every expired artifact now (the retention schedule runs this); how many went. */
  readonly sweep: Effect.Effect<number>
}>() {}

const storage = (e: ArtifactStoreError): ArcpError => {
  switch (e.reason) {
    case "TooLarge":
      return ArcpError.of("RESOURCE_EXHAUSTED", e.message)
    case "SizeMismatch":
    case "DigestMismatch":
      return ArcpError.of("DATA_LOSS", `${e.message}; nothing was stored`)
    default:
      return ArcpError.of("UNAVAILABLE", `artifact storage failed: ${e.message}`)
  }
}

/** The ref of a stored artifact (§16.1). */
export const refOf = (record: ArtifactRecord): ArtifactRef => ({
  artifact_id: ArtifactId.make(record.artifact_id),
  uri: `arcp://session/${record.session_id}/artifact/${record.artifact_id}`,
  media_type: record.media_type,
  size: record.size,
  sha256: record.sha256,
  expires_at: fromMillis(record.expires_at)
})

const notFound = (artifactId: string) => ArcpError.of("NOT_FOUND", `no artifact ${artifactId}`)

export const make = Effect.gen(function*() {
  const settings = yield* RuntimeConfig
  const store = yield* ArtifactStore
  const { artifactRetention: retention, artifactQuotaBytes: quota, maxArtifactBytes: maxBytes } = settings
  // bytes promised to puts still streaming, per principal, so concurrent puts cannot overrun a quota together
  const reserved = new Map<string, number>()
  const admission = yield* Effect.makeSemaphore(1)

  /** Checks the quota and reserves the declared size; the most bytes this put may bring. */
  const admit = (principal: string, size: number | undefined) =>
    admission.withPermits(1)(Effect.gen(function*() {
      if (size !== undefined && size > maxBytes) {
        return yield* ArcpError.of(
          "RESOURCE_EXHAUSTED",
          `the artifact (${size} bytes) exceeds the ${maxBytes}-byte limit`
        )
      }
      const used = (yield* Effect.mapError(store.usage(principal), storage)) + (reserved.get(principal) ?? 0)
      const room = quota - used
      if ((size ?? 1) > room) {
        return yield* ArcpError.of(
          "RESOURCE_EXHAUSTED",
          `the artifact quota of ${quota} bytes is used up (${used} bytes held); release artifacts first`
        )
      }
      reserved.set(principal, (reserved.get(principal) ?? 0) + (size ?? 0))
      return Math.min(maxBytes, room)
    }))

  const unreserve = (principal: string, size: number | undefined) =>
    Effect.sync(() => {
      const left = (reserved.get(principal) ?? 0) - (size ?? 0)
      if (left > 0) reserved.set(principal, left)
      else reserved.delete(principal)
    })

  /** The live record of an artifact `principal` may see. */
  const visible = Effect.fnUntraced(function*(principal: string, artifactId: string) {
    const record = yield* Effect.mapError(store.get(artifactId), storage)
    const now = yield* Clock.currentTimeMillis
    if (Option.isNone(record) || record.value.principal !== principal || record.value.expires_at <= now) {
      return yield* notFound(artifactId)
    }
    return record.value
  })

  const put = Effect.fnUntraced(
    function*(owner: ArtifactOwner, options: PutOptions, bytes: Stream.Stream<Uint8Array, ArcpError>) {
      const ttl = options.ttlSeconds ?? retention.defaultSeconds
      if (ttl > retention.maxSeconds) {
        return yield* ArcpError.of(
          "INVALID_ARGUMENT",
          `ttl_seconds ${ttl} exceeds the retention maximum of ${retention.maxSeconds} seconds (§16.3)`
        )
      }
      const limit = yield* admit(owner.principal, options.size)
      const now = yield* Clock.currentTimeMillis
      const id = yield* makeArtifactId
      const record = yield* store.put({
        artifact_id: id,
        principal: owner.principal,
        session_id: owner.sessionId,
        media_type: options.mediaType,
        created_at: now,
        expires_at: now + Math.round(ttl * 1000),
        expectedSize: options.size,
        expectedSha256: options.sha256,
        maxBytes: limit
      }, bytes).pipe(
        Effect.catchTag("ArtifactStoreError", (e) => Effect.fail(storage(e))),
        Effect.ensuring(unreserve(owner.principal, options.size))
      )
      return refOf(record)
    }
  )

  const sweep = Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const expired = yield* store.expired(now)
    yield* Effect.forEach(expired, (r) => store.delete(r.artifact_id), { discard: true })
    if (expired.length > 0) yield* Effect.logDebug(`retention: removed ${expired.length} expired artifact(s)`)
    return expired.length
  }).pipe(
    // a failed sweep is retried at the next tick; fetches check expiry themselves meanwhile
    Effect.catchAll((e) => Effect.as(Effect.logWarning("artifact retention sweep failed", e), 0))
  )

  // the retention schedule (§16.3): what expired while the runtime was down goes before anyone is served, then a
  // sweep every interval on a scoped fiber
  yield* sweep
  const interval = Duration.max(settings.artifactSweepInterval, Duration.millis(1))
  yield* sweep.pipe(Effect.repeat(Schedule.spaced(interval)), Effect.delay(interval), Effect.forkScoped)

  return Artifacts.of({
    put,
    open: (principal, artifactId) =>
      Effect.map(visible(principal, artifactId), (record) => ({
        ref: refOf(record),
        bytes: Stream.mapError(store.read(record), storage)
      })),
    release: (principal, artifactId) =>
      Effect.flatMap(visible(principal, artifactId), () => Effect.mapError(store.delete(artifactId), storage)).pipe(
        Effect.asVoid
      ),
    sweep
  })
})

/** The artifacts service over the provided `ArtifactStore`, with its retention schedule running for the layer's life. */
export const layer: Layer.Layer<Artifacts, never, ArtifactStore | RuntimeConfig> = Layer.scoped(Artifacts, make)
