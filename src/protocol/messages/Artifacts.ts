/** Artifact messages (RFC §16): put, fetch, ref, release. */
import { Schema } from "effect"
import { ArtifactId } from "../Ids.js"
import { Timestamp } from "../Timestamp.js"
import { NonEmptyString, NonNegativeInt } from "./Common.js"

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

/** Base64 text (standard alphabet, padded). */
export const Base64 = Schema.String.pipe(
  Schema.filter((s) => (s.length % 4 === 0 && BASE64.test(s)) || "Expected base64 data", { identifier: "Base64" })
)

/** The canonical pointer to an artifact (§16.1); may stand in for any large value. */
export const ArtifactRef = Schema.Struct({
  artifact_id: ArtifactId,
  uri: NonEmptyString,
  media_type: NonEmptyString,
  size: NonNegativeInt,
  sha256: Schema.optional(Schema.String),
  expires_at: Schema.optional(Timestamp)
}).annotations({ identifier: "ArtifactRef" })
export type ArtifactRef = typeof ArtifactRef.Type

/** Lower-case or upper-case hex of a SHA-256 digest. */
export const Sha256Hex = Schema.String.pipe(
  Schema.pattern(/^[0-9a-fA-F]{64}$/, { message: () => "Expected a sha256 hex digest" })
)

/**
 * An upload, or the runtime's answer to a fetch (§16.2). `data` carries the bytes
 * inline; with `encoding: "sidecar"` they follow as binary frames keyed to this
 * message's id (docs/decisions.md). `size` and `sha256` are our additions: when
 * given, the bytes must match them (DATA_LOSS otherwise).
 */
export const ArtifactPut = Schema.Struct({
  artifact_id: Schema.optional(ArtifactId),
  media_type: NonEmptyString,
  data: Schema.optional(Base64),
  encoding: Schema.optional(Schema.Literal("base64", "sidecar")),
  ttl_seconds: Schema.optional(Schema.Number.pipe(Schema.nonNegative())),
  size: Schema.optional(NonNegativeInt),
  sha256: Schema.optional(Sha256Hex)
})

/** `encoding` (our addition) asks for the bytes inline (`base64`, the default) or as sidecar frames. */
export const ArtifactFetch = Schema.Struct({
  artifact_id: ArtifactId,
  encoding: Schema.optional(Schema.Literal("base64", "sidecar"))
})

export const ArtifactRelease = Schema.Struct({ artifact_id: ArtifactId })

export const payloads = {
  "artifact.put": ArtifactPut,
  "artifact.fetch": ArtifactFetch,
  "artifact.ref": ArtifactRef,
  "artifact.release": ArtifactRelease
}
