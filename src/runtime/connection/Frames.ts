/**
 * How a connection takes its frames, a chunk at a time: the accepted messages of an open session are gathered
 * into runs (logged in one commit, then handled in arrival order, `AcceptedMessages`); anything else — the
 * handshake's messages, sidecar frames, bad frames — is handled one by one between those runs, and a bad frame
 * is refused (a nack, or dropped before the session is accepted, §8.1) while the session carries on.
 */
import { Effect, Either, Ref } from "effect"
import { type Decoded, type DecodeError, decodeJson } from "../../protocol/Message.js"
import type { Incoming } from "../../transport/Transport.js"
import type * as Sidecar from "../artifacts/Sidecar.js"
import type * as Handshake from "../Handshake.js"
import type { LiveSession } from "../LiveSession.js"
import type * as Outbound from "../outbound/Outbound.js"
import type { Settings } from "../RuntimeConfig.js"
import { nack, refusalOf, wrongSession } from "./Nacks.js"

export interface FrameContext {
  readonly settings: Pick<Settings, "maxJsonDepth" | "maxFrameBytes">
  readonly phase: Ref.Ref<Handshake.Phase>
  readonly outbound: Outbound.Outbound
  readonly sidecar: Sidecar.Sidecar
  /** A message outside an open session's runs: the handshake's. */
  onMessage(message: Decoded): Effect.Effect<void>
  /** A run of an open session's messages, in arrival order. */
  handleBatch(
    session: LiveSession,
    batch: ReadonlyArray<{ readonly message: Decoded; readonly json: string }>
  ): Effect.Effect<void>
}

/** Logged, not answered: before session.accepted nothing is executed or answered but the handshake (§8.1). */
export const dropBeforeAcceptance = (what: string) =>
  Effect.logWarning(`dropped before session.accepted (§8.1): ${what}`)

/** One frame outside an open session's runs (a handshake message, a sidecar frame, a bad frame). */
// generator functions made once (`fnUntraced`): one evaluated per call would make a hidden class per call, in the
// old generation, keeping the call's objects alive until the next full GC (issue 12)
const onFrame = Effect.fnUntraced(function*(
  ctx: FrameContext,
  frame: Incoming,
  decoded: Either.Either<Decoded, DecodeError> | undefined
) {
  if (frame._tag === "Text" && decoded !== undefined && Either.isRight(decoded)) {
    return yield* ctx.onMessage(decoded.right)
  }
  const open = (yield* Ref.get(ctx.phase))._tag === "Open"
  // sidecar frames belong to an announced transfer of an open session (§11.3, §16.2)
  if (frame._tag === "Binary" && open) return yield* ctx.sidecar.deliver(frame.data)
  const refusal = refusalOf(frame, decoded, open, ctx.settings.maxFrameBytes)
  if (refusal === undefined) return
  return yield* refusal._tag === "Drop"
    ? dropBeforeAcceptance(refusal.type)
    : nack(ctx.outbound, refusal.error, refusal.id)
})

const onChunkSteps = Effect.fnUntraced(function*(ctx: FrameContext, frames: Iterable<Incoming>) {
  let run: Array<{ readonly message: Decoded; readonly json: string }> = []
  let runSession: LiveSession | undefined
  const flush = Effect.suspend(() => {
    const batch = run
    run = []
    return runSession === undefined ? Effect.void : ctx.handleBatch(runSession, batch)
  })
  for (const frame of frames) {
    // nesting is measured on the text, before anything recursive (parse errors, schemas) can see it
    const decoded = frame._tag === "Text"
      ? decodeJson(frame.text, { maxDepth: ctx.settings.maxJsonDepth })
      : undefined
    const current = yield* Ref.get(ctx.phase)
    if (current._tag === "Open" && frame._tag === "Text" && decoded !== undefined && Either.isRight(decoded)) {
      const refusal = wrongSession(current.session.id, decoded.right)
      if (refusal !== undefined) {
        yield* flush
        // a nack is not answered with a nack (no loop with a peer that nacks what it cannot place)
        yield* decoded.right.type === "nack"
          ? Effect.logWarning(`dropped a nack: ${refusal.message}`)
          : nack(ctx.outbound, refusal, decoded.right.id)
        continue
      }
      runSession = current.session
      run.push({ message: decoded.right, json: frame.text })
      continue
    }
    yield* flush
    // a defect in one message's handling is logged; the connection carries on
    yield* onFrame(ctx, frame, decoded).pipe(
      Effect.catchAllCause((cause) => Effect.logError("failed to handle a frame", cause))
    )
  }
  yield* flush
})

/** Handles one chunk of frames; never fails. */
export const onChunk = (ctx: FrameContext) => (frames: Iterable<Incoming>) => onChunkSteps(ctx, frames)
