/**
 * How a connection refuses a frame it cannot take: the `nack` (naming the offending message when its id
 * can be read, even from a frame that did not parse), a message naming the wrong session (§6.1.1), a decode failure.
 */
import { Option, Schema } from "effect"
import { ArcpError } from "../../protocol/Errors.js"
import { MessageId } from "../../protocol/Ids.js"
import type { Decoded, DecodeError } from "../../protocol/Message.js"
import type * as Outbound from "../Outbound.js"

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
