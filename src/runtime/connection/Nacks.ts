/**
 * How a connection refuses a frame it cannot take: the `nack` (naming the offending message when its id
 * can be read, even from a frame that did not parse), a message naming the wrong session (§6.1.1), a decode failure,
 * a frame that is not a message to handle.
 */
import { Either, Option, Schema } from "effect"
import { ArcpError } from "../../protocol/Errors.js"
import { classifyUnknownType } from "../../protocol/Extensions.js"
import { MessageId } from "../../protocol/Ids.js"
import type { Decoded, DecodeError } from "../../protocol/Message.js"
import type { Incoming } from "../../transport/Transport.js"
import type * as Outbound from "../outbound/Outbound.js"

const readMessageId = Schema.decodeUnknownOption(MessageId)

/** The `id` of a frame read from its text (or head), for a frame too large or malformed to parse. */
export const ID_IN_HEAD = /"id"\s*:\s*"((?:[^"\\]|\\.){1,256})"/

/** Sends a nack; `correlation_id` and `ack_for` name the offending message when its id could be read. */
export const nack = (outbound: Outbound.Outbound, error: ArcpError, rawId: string | undefined) => {
  const id = readMessageId(rawId)
  return outbound.emit(
    "nack",
    { ...error.toPayload(), ...(Option.isSome(id) ? { ack_for: id.value } : {}) },
    Option.isSome(id) ? { correlation_id: id.value } : {}
  )
}

/**
 * §6.1.1: once the session exists every message names it. A `session_id` that
 * is missing or names another session is refused INVALID_ARGUMENT before the
 * message is recorded, except on `resume`, whose envelope names the session it
 * resumes (§19); subscription filters name sessions in their payload (§13).
 */
export const wrongSession = (sessionId: string, message: Decoded): ArcpError | undefined => {
  if (message.session_id === sessionId || message.type === "resume") return undefined
  return message.session_id === undefined
    ? ArcpError.of(
      "INVALID_ARGUMENT",
      `session_id is required once the session is open; this session is ${sessionId}`,
      {
        details: { reason: "session_id_missing" }
      }
    )
    : ArcpError.of(
      "INVALID_ARGUMENT",
      `session_id ${message.session_id} does not name this connection's session ${sessionId}`,
      { details: { reason: "session_id_mismatch" } }
    )
}

export const decodeFailure = (error: DecodeError): ArcpError =>
  ArcpError.of("INVALID_ARGUMENT", error.message, { details: { reason: error.reason, issues: error.issues } })

/** What a connection does with a frame it cannot take as a message: a nack (naming the frame's id when it can be read), or a drop. */
export type Refusal =
  | { readonly _tag: "Nack"; readonly error: ArcpError; readonly id: string | undefined }
  | { readonly _tag: "Drop"; readonly type: string }

/**
 * The refusal of a frame that is not a message to handle: too large (its id read from its head), binary with
 * no sidecar transfer open (§11.3), undecodable (its id read from its text), or of an unknown type: dropped
 * before the session is accepted, nacked after (§21.3). `undefined`: nothing to refuse.
 */
export const refusalOf = (
  frame: Incoming,
  decoded: Either.Either<Decoded, DecodeError> | undefined,
  open: boolean,
  maxFrameBytes: number
): Refusal | undefined => {
  switch (frame._tag) {
    case "TooLarge":
      return {
        _tag: "Nack",
        error: ArcpError.of(
          "INVALID_ARGUMENT",
          `frame of ${frame.bytes} bytes exceeds the ${maxFrameBytes}-byte limit`,
          {
            details: { frame_bytes: frame.bytes, max_frame_bytes: maxFrameBytes }
          }
        ),
        id: ID_IN_HEAD.exec(frame.head)?.[1]
      }
    case "Binary":
      return open ? undefined : {
        _tag: "Nack",
        error: ArcpError.of("INVALID_ARGUMENT", "unexpected binary frame (no sidecar stream is open)"),
        id: undefined
      }
    case "Text": {
      if (decoded === undefined || Either.isRight(decoded)) return undefined
      const error = decoded.left
      // malformed JSON has no parsed id: read it from the text, as for an oversized frame
      if (error.reason !== "UnknownType") {
        return { _tag: "Nack", error: decodeFailure(error), id: error.id ?? ID_IN_HEAD.exec(frame.text)?.[1] }
      }
      if (!open) return { _tag: "Drop", type: error.type ?? "?" }
      const decision = classifyUnknownType(error.type ?? "", { advertised: [], optional: false })
      return {
        _tag: "Nack",
        error: decision._tag === "Nack"
          ? ArcpError.of(decision.code, decision.message)
          : ArcpError.of("UNIMPLEMENTED", error.message),
        id: error.id
      }
    }
  }
}
