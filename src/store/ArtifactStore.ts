/**
 * Artifact bytes and their records (RFC §16): a put takes a byte stream and
 * either stores all of it, checked against its declared size and sha256, or
 * nothing; a get gives the bytes back as a stream. One contract, two backends
 * (files with metadata in SQLite, memory).
 */
import { Context, Effect, type Option, Schema, Stream } from "effect"
import { createHash } from "node:crypto"

/** A storage failure, or a put whose bytes do not match what was declared (nothing is stored). */
export class ArtifactStoreError extends Schema.TaggedError<ArtifactStoreError>()("ArtifactStoreError", {
  reason: Schema.Literal("Open", "Read", "Write", "TooLarge", "SizeMismatch", "DigestMismatch"),
  message: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {}

/** What the store keeps about one artifact. Times are epoch milliseconds; `sha256` is lower-case hex. */
export interface ArtifactRecord {
  readonly artifact_id: string
  readonly principal: string
  readonly session_id: string
  readonly media_type: string
  readonly size: number
  readonly sha256: string
  readonly created_at: number
  readonly expires_at: number
}

/** A put: the record's fields known before the bytes, the checks, and the most bytes accepted. */
export interface PutRequest extends Omit<ArtifactRecord, "size" | "sha256"> {
  /** The bytes must add up to exactly this (SizeMismatch otherwise). */
  readonly expectedSize?: number | undefined
  /** The bytes must hash to this hex digest (DigestMismatch otherwise). */
  readonly expectedSha256?: string | undefined
  /** More bytes than this fail the put with TooLarge as soon as they arrive. */
  readonly maxBytes: number
}

export class ArtifactStore extends Context.Tag("arcp/ArtifactStore")<ArtifactStore, {
  /**
   * Stores the bytes of `bytes` under `request.artifact_id`, streaming them (never
   * holding them whole, for the file backend). All or nothing: a failure of the
   * stream, of a check or of the storage leaves no bytes and no record behind.
   */
  readonly put: <E>(
    request: PutRequest,
    bytes: Stream.Stream<Uint8Array, E>
  ) => Effect.Effect<ArtifactRecord, ArtifactStoreError | E>
  /** The record of an artifact, expired or not (callers decide what expiry means). */
  readonly get: (artifactId: string) => Effect.Effect<Option.Option<ArtifactRecord>, ArtifactStoreError>
  /** The bytes of a stored artifact, in chunks. */
  readonly read: (record: ArtifactRecord) => Stream.Stream<Uint8Array, ArtifactStoreError>
  /** Removes an artifact's record and (when no other record shares them) its bytes; false if it was not there. */
  readonly delete: (artifactId: string) => Effect.Effect<boolean, ArtifactStoreError>
  /** Records whose `expires_at` is at or before `now`. */
  readonly expired: (now: number) => Effect.Effect<ReadonlyArray<ArtifactRecord>, ArtifactStoreError>
  /** Total bytes of a principal's artifacts (expired ones not yet removed included). */
  readonly usage: (principal: string) => Effect.Effect<number, ArtifactStoreError>
}>() {}

/** The size and digest of bytes that went through `measure`. */
export interface Measured {
  readonly size: number
  readonly sha256: string
}

/**
 * Passes the bytes through while counting and hashing them: fails TooLarge as
 * soon as they exceed `maxBytes`. `result` reads the totals once the stream ended.
 */
export const measure = <E>(bytes: Stream.Stream<Uint8Array, E>, maxBytes: number) =>
  Effect.sync(() => {
    const hash = createHash("sha256")
    let size = 0
    const stream = Stream.mapEffect(bytes, (chunk) =>
      Effect.suspend(() => {
        size += chunk.byteLength
        if (size > maxBytes) {
          return Effect.fail(
            new ArtifactStoreError({ reason: "TooLarge", message: `the artifact exceeds ${maxBytes} bytes` })
          )
        }
        hash.update(chunk)
        return Effect.succeed(chunk)
      }))
    const result = Effect.sync((): Measured => ({ size, sha256: hash.digest("hex") }))
    return { stream, result }
  })

/** Checks measured bytes against a put's declarations. */
export const check = (request: PutRequest, measured: Measured): Effect.Effect<void, ArtifactStoreError> => {
  if (request.expectedSize !== undefined && measured.size !== request.expectedSize) {
    return Effect.fail(
      new ArtifactStoreError({
        reason: "SizeMismatch",
        message: `received ${measured.size} bytes, ${request.expectedSize} were declared`
      })
    )
  }
  if (request.expectedSha256 !== undefined && measured.sha256 !== request.expectedSha256.toLowerCase()) {
    return Effect.fail(
      new ArtifactStoreError({
        reason: "DigestMismatch",
        message: `the bytes hash to sha256 ${measured.sha256}, ${request.expectedSha256} was declared`
      })
    )
  }
  return Effect.void
}
