/**
 * A payload decoder per message type (RFC §6.2) whose result keeps the type it
 * was asked for, for callers that hold a payload apart from its envelope (the CLI).
 */
import { type Effect, type ParseResult, Schema } from "effect"
import { type MessageType, type PayloadOf, payloads } from "./Message.js"

/**
 * `payloads`, typed as a mapped type: indexing it with a generic `T` yields a
 * schema of `PayloadOf<T>` rather than the union of every payload (checked per key here).
 */
const schemas: {
  readonly [K in MessageType]: Schema.Schema<PayloadOf<K>, Schema.Schema.Encoded<(typeof payloads)[K]>>
} = payloads

/** Decodes `input` as the payload of `type`, reporting every failing field. */
export const decodePayload = <T extends MessageType>(
  type: T,
  input: unknown
): Effect.Effect<PayloadOf<T>, ParseResult.ParseError> => Schema.decodeUnknown(schemas[type], { errors: "all" })(input)
