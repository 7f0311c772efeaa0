/**
 * The artifact messages of a session (RFC §16.2): `artifact.put` inline or
 * with sidecar frames → `artifact.ref`; `artifact.fetch` → an `artifact.put`
 * carrying the bytes inline or announcing sidecar frames; `artifact.release` → `ack`.
 */
import { Chunk, Effect, Either, Stream } from "effect"
import * as Base64 from "../../internal/Base64.js"
import { ArcpError } from "../../protocol/Errors.js"
import type { Message } from "../../protocol/Message.js"
import { now } from "../../protocol/Timestamp.js"
import type { RouteContext } from "../Router.js"
import type { Artifacts } from "./Artifacts.js"

type Service = Artifacts["Type"]

/** Room kept in a frame for the envelope around inline base64 data. */
const ENVELOPE_ROOM = 4096

const nack = (ctx: RouteContext, message: { readonly id: Message["id"] }, error: ArcpError) =>
  ctx.outbound.emit("nack", { ...error.toPayload(), ack_for: message.id }, { correlation_id: message.id })

export const put = (artifacts: Service) => (message: Message<"artifact.put">, ctx: RouteContext) =>
  Effect.gen(function*() {
    const { payload } = message
    const owner = { principal: ctx.owner.principal, sessionId: ctx.session.id }
    const options = {
      mediaType: payload.media_type,
      ttlSeconds: payload.ttl_seconds,
      size: payload.size,
      sha256: payload.sha256
    }
    const answer = (ref: Effect.Effect.Success<ReturnType<Service["put"]>>) =>
      ctx.outbound.emit("artifact.ref", ref, { correlation_id: message.id })
    if (payload.encoding === "sidecar") {
      if (payload.data !== undefined) {
        return yield* ArcpError.of("INVALID_ARGUMENT", "a sidecar artifact.put carries no inline data")
      }
      // registered now, before the connection reads the frames that follow; stored off the connection's fiber
      const upload = yield* ctx.sidecar.expect(message.id)
      return yield* ctx.sidecar.fork(
        artifacts.put(owner, options, upload.bytes).pipe(
          Effect.matchEffect({ onFailure: (error) => nack(ctx, message, error), onSuccess: answer }),
          Effect.ensuring(upload.close)
        )
      )
    }
    if (payload.data === undefined) {
      return yield* ArcpError.of(
        "INVALID_ARGUMENT",
        "artifact.put needs data (base64) or encoding \"sidecar\" with binary frames"
      )
    }
    const bytes = Base64.decode(payload.data)
    if (Either.isLeft(bytes)) return yield* ArcpError.of("INVALID_ARGUMENT", "artifact.put data is not valid base64")
    yield* answer(yield* artifacts.put(owner, options, Stream.succeed(bytes.right)))
  })

export const fetch =
  (artifacts: Service, maxFrameBytes: number) => (message: Message<"artifact.fetch">, ctx: RouteContext) =>
    Effect.gen(function*() {
      const opened = yield* artifacts.open(ctx.owner.principal, message.payload.artifact_id)
      const { ref } = opened
      const described = {
        artifact_id: ref.artifact_id,
        media_type: ref.media_type,
        size: ref.size,
        ...(ref.sha256 !== undefined ? { sha256: ref.sha256 } : {})
      }
      if (message.payload.encoding === "sidecar") {
        if (!ctx.sidecar.binary) {
          return yield* ArcpError.of("INVALID_ARGUMENT", "this transport has no binary frames: fetch with base64")
        }
        return yield* ctx.sidecar.fork(
          Effect.gen(function*() {
            yield* ctx.outbound.emit("artifact.put", { ...described, encoding: "sidecar" }, {
              correlation_id: message.id
            })
            // the announcement goes out before its frames
            yield* ctx.outbound.flush
            yield* ctx.sidecar.transmit(message.id, opened.bytes)
          }).pipe(Effect.catchAll((error) => nack(ctx, message, error)))
        )
      }
      if (Math.ceil(ref.size / 3) * 4 + ENVELOPE_ROOM > maxFrameBytes) {
        return yield* ArcpError.of(
          "RESOURCE_EXHAUSTED",
          `artifact ${ref.artifact_id} (${ref.size} bytes) is too large to send inline in one frame; ` +
            "fetch it with encoding \"sidecar\" over WebSocket"
        )
      }
      const chunks = yield* Stream.runCollect(opened.bytes)
      const data = Base64.encode(Buffer.concat(Chunk.toReadonlyArray(chunks)))
      yield* ctx.outbound.emit("artifact.put", { ...described, data, encoding: "base64" }, {
        correlation_id: message.id
      })
    })

export const release = (artifacts: Service) => (message: Message<"artifact.release">, ctx: RouteContext) =>
  Effect.gen(function*() {
    yield* artifacts.release(ctx.owner.principal, message.payload.artifact_id)
    yield* ctx.outbound.emit("ack", { ack_for: message.id, received_at: yield* now }, { correlation_id: message.id })
  })
