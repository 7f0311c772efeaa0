/**
 * The client's side of artifacts (RFC §16): `put` uploads bytes inline (base64)
 * or as sidecar frames keyed to the put's id, and checks the returned ref
 * against what was sent; `fetch` streams an artifact back, checking its size
 * and sha256 at the end (DATA_LOSS otherwise).
 */
import { Chunk, Effect, Either, Stream } from "effect"
import { createHash } from "node:crypto"
import * as Base64 from "../../internal/Base64.js"
import type { Capabilities } from "../../protocol/Capabilities.js"
import { make as makeEnvelope } from "../../protocol/Envelope.js"
import { ArcpError } from "../../protocol/Errors.js"
import { ArtifactId } from "../../protocol/Ids.js"
import { type Decoded, isCore } from "../../protocol/Message.js"
import type { ArtifactRef } from "../../protocol/messages/Artifacts.js"
import { type Inbox, transmit } from "../../transport/SidecarTransfers.js"
import type { Connection } from "../../transport/Transport.js"
import type { ClientError } from "../Client.js"

export interface PutArtifactOptions {
  readonly mediaType: string
  /** Lifetime asked for, at most the runtime's `artifact_retention.max_seconds`. */
  readonly ttlSeconds?: number | undefined
  /** `sidecar` (default where the transport and the runtime offer it) or `base64` (inline, one frame). */
  readonly encoding?: "base64" | "sidecar" | undefined
}

export interface FetchArtifactOptions {
  readonly encoding?: "base64" | "sidecar" | undefined
}

/** What the session gives the artifact functions. */
export interface ArtifactDeps {
  readonly connection: Connection
  readonly capabilities: Capabilities
  readonly inbox: Inbox
  /** Sends `envelope`, runs `during` alongside (its failure wins), and returns the first correlated reply. */
  readonly exchange: (
    envelope: Decoded,
    during: Effect.Effect<void, ArcpError | ClientError>
  ) => Effect.Effect<Decoded, ArcpError | ClientError>
  /** Builds the client's own error (a transport failure, an unexpected answer). */
  readonly clientError: (reason: "Transport" | "Closed", message: string) => ClientError
}

/** The largest artifact sent inline: its base64 must fit a 1 MiB frame with its envelope. */
const INLINE_MAX_BYTES = Math.floor((1024 * 1024 - 4096) / 4) * 3

const sidecarOffered = (deps: ArtifactDeps, asked: "base64" | "sidecar" | undefined) =>
  asked === undefined
    ? deps.connection.binary && (deps.capabilities.binary_encoding ?? []).includes("sidecar")
    : asked === "sidecar"

/** Counts and hashes what passes through; `totals` reads them once the stream ended. */
const tally = <E>(bytes: Stream.Stream<Uint8Array, E>) => {
  const hash = createHash("sha256")
  let size = 0
  return {
    stream: Stream.tap(bytes, (chunk) =>
      Effect.sync(() => {
        size += chunk.byteLength
        hash.update(chunk)
      })),
    totals: Effect.sync(() => ({ size, sha256: hash.digest("hex") }))
  }
}

const mismatch = (
  what: string,
  totals: { size: number; sha256: string },
  ref: { readonly size?: number | undefined; readonly sha256?: string | undefined }
) =>
  (ref.size !== undefined && ref.size !== totals.size) ||
    (ref.sha256 !== undefined && ref.sha256.toLowerCase() !== totals.sha256)
    ? Effect.fail(
      ArcpError.of(
        "DATA_LOSS",
        `${what}: ${totals.size} bytes with sha256 ${totals.sha256}, expected ${ref.size ?? "?"} bytes with sha256 ${
          ref.sha256 ?? "?"
        }`
      )
    )
    : Effect.void

/** Uploads `data` and returns the runtime's ref, checked against the bytes sent. */
export const put = <E>(
  deps: ArtifactDeps,
  data: Uint8Array | Stream.Stream<Uint8Array, E>,
  options: PutArtifactOptions
): Effect.Effect<ArtifactRef, ArcpError | ClientError | E> =>
  Effect.gen(function*() {
    const source = data instanceof Uint8Array ? Stream.succeed(data) : data
    const common = {
      media_type: options.mediaType,
      ...(options.ttlSeconds !== undefined ? { ttl_seconds: options.ttlSeconds } : {})
    }
    const counted = tally(source)
    let reply: Decoded
    if (sidecarOffered(deps, options.encoding)) {
      const envelope = yield* makeEnvelope("artifact.put", {
        ...common,
        encoding: "sidecar",
        ...(data instanceof Uint8Array ? { size: data.byteLength } : {})
      })
      // the source's own failure is kept apart from the protocol's, to be returned as itself
      let sourceError: Either.Either<never, E> | undefined
      const source = counted.stream.pipe(Stream.mapError((e) => {
        sourceError = Either.left(e)
        return ArcpError.of("CANCELLED", "the artifact's byte source failed")
      }))
      const frames = transmit(deps.connection, envelope.id, source).pipe(
        Effect.catchTag("TransportError", (e) => Effect.fail(deps.clientError("Transport", e.message)))
      )
      const answered = yield* Effect.either(deps.exchange(envelope, frames))
      if (sourceError !== undefined) return yield* sourceError
      if (Either.isLeft(answered)) return yield* answered.left
      reply = answered.right
    } else {
      const chunks = yield* Stream.runCollect(counted.stream)
      const bytes = Buffer.concat(Chunk.toReadonlyArray(chunks))
      if (bytes.byteLength > INLINE_MAX_BYTES) {
        return yield* ArcpError.of(
          "RESOURCE_EXHAUSTED",
          `${bytes.byteLength} bytes are too many to send inline; use a transport with sidecar frames (WebSocket)`
        )
      }
      const envelope = yield* makeEnvelope("artifact.put", {
        ...common,
        data: Base64.encode(bytes),
        encoding: "base64",
        size: bytes.byteLength
      })
      reply = yield* deps.exchange(envelope, Effect.void)
    }
    if (!isCore(reply) || reply.type !== "artifact.ref") {
      return yield* deps.clientError("Closed", `expected artifact.ref, got ${reply.type}`)
    }
    yield* mismatch("the runtime stored different bytes", yield* counted.totals, reply.payload)
    return reply.payload
  })

/** The bytes of an artifact, fetched when the stream runs; DATA_LOSS at the end when they miss the ref's size or sha256. */
export const fetch = (
  deps: ArtifactDeps,
  target: ArtifactRef | string,
  options: FetchArtifactOptions = {}
): Stream.Stream<Uint8Array, ArcpError | ClientError> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const artifactId = ArtifactId.make(typeof target === "string" ? target : target.artifact_id)
    const sidecar = sidecarOffered(deps, options.encoding)
    const envelope = yield* makeEnvelope("artifact.fetch", {
      artifact_id: artifactId,
      ...(sidecar ? { encoding: "sidecar" as const } : {})
    })
    // registered before the fetch goes out: the frames may follow its answer at once
    const transfer = sidecar ? yield* deps.inbox.expect(envelope.id) : undefined
    if (transfer !== undefined) yield* Effect.addFinalizer(() => transfer.close)
    const reply = yield* deps.exchange(envelope, Effect.void)
    if (!isCore(reply) || reply.type !== "artifact.put") {
      return yield* deps.clientError("Closed", `expected artifact.put, got ${reply.type}`)
    }
    const { data, sha256, size } = reply.payload
    let bytes: Stream.Stream<Uint8Array, ArcpError>
    if (data !== undefined) {
      const decoded = Base64.decode(data)
      if (Either.isLeft(decoded)) return yield* ArcpError.of("DATA_LOSS", "the artifact's base64 data is corrupt")
      bytes = Stream.succeed(decoded.right)
    } else if (transfer !== undefined) {
      bytes = transfer.bytes
    } else {
      return yield* ArcpError.of("DATA_LOSS", "the runtime answered the fetch without data")
    }
    const expected = { ...(size !== undefined ? { size } : {}), ...(sha256 !== undefined ? { sha256 } : {}) }
    return Stream.suspend(() => {
      const counted = tally(bytes)
      return Stream.concat(
        counted.stream,
        Stream.drain(Stream.fromEffect(Effect.flatMap(counted.totals, (t) => mismatch("artifact", t, expected))))
      )
    })
  }))
