/**
 * Every message of RFC §6.2 as one union discriminated by `type`, with a codec
 * that looks the schema up by `type` (one decode per frame) and errors that
 * name the type and the failing path. Namespaced types decode as extension messages.
 */
import { Either, ParseResult, Schema } from "effect"
import { Envelope, type Header, headerFields } from "./Envelope.js"
import { isExtensionType } from "./Extensions.js"
import { readHeader } from "./HeaderCheck.js"
import { exceedsDepth } from "./JsonDepth.js"
import * as Artifacts from "./messages/Artifacts.js"
import * as Control from "./messages/Control.js"
import * as Execution from "./messages/Execution.js"
import * as Human from "./messages/Human.js"
import * as Permissions from "./messages/Permissions.js"
import * as Session from "./messages/Session.js"
import * as Streaming from "./messages/Streaming.js"
import * as Subscriptions from "./messages/Subscriptions.js"
import * as Telemetry from "./messages/Telemetry.js"

/** Payload schema of every core message type. */
export const payloads = {
  ...Session.payloads,
  ...Control.payloads,
  ...Execution.payloads,
  ...Streaming.payloads,
  ...Human.payloads,
  ...Permissions.payloads,
  ...Subscriptions.payloads,
  ...Artifacts.payloads,
  ...Telemetry.payloads
}

export type MessageType = keyof typeof payloads
export type PayloadOf<T extends MessageType> = Schema.Schema.Type<(typeof payloads)[T]>

/** A core message: the envelope header, a literal `type` and that type's payload. */
export type Message<T extends MessageType = MessageType> = {
  [K in T]: Header & { readonly type: K; readonly payload: PayloadOf<K> }
}[T]

/** A message of a namespaced extension type (§21): envelope-validated, payload left to its handler. */
export type ExtensionMessage = Envelope

/** What the codec yields: a core message or an extension message (tell them apart with `isCore`). */
export type Decoded = Message | ExtensionMessage

/** Every core type, in the order of §6.2. */
export const messageTypes: ReadonlyArray<MessageType> = Object.keys(payloads).filter(isMessageType)

/** True for a core message type name. */
export function isMessageType(type: string): type is MessageType {
  return Object.prototype.hasOwnProperty.call(payloads, type)
}

/** Narrows a decoded message to the core union. */
export const isCore = (message: Decoded): message is Message => isMessageType(message.type)

/** Narrows to one core type. */
export const is = <T extends MessageType>(type: T) => (message: Decoded): message is Message<T> => message.type === type

/** The envelope fields §6.1.1 marks "conditional". */
export type ConditionalField = "job_id" | "stream_id" | "subscription_id"

/**
 * The types that must carry a conditional envelope field (§6.1.1, WIRE correlation rules): job
 * lifecycle events name their job, stream events their stream, subscription deliveries their
 * subscription. `job.accepted` carries its job id in the payload. `session_id` ("required once a
 * session exists") depends on connection state, so the Connection checks it, not the codec.
 */
export const requiredFields: { readonly [K in MessageType]?: ConditionalField } = {
  "job.started": "job_id",
  "job.progress": "job_id",
  "job.heartbeat": "job_id",
  "job.checkpoint": "job_id",
  "job.completed": "job_id",
  "job.failed": "job_id",
  "job.cancelled": "job_id",
  "stream.open": "stream_id",
  "stream.chunk": "stream_id",
  "stream.close": "stream_id",
  "stream.error": "stream_id",
  "subscribe.event": "subscription_id"
}

/** The envelope struct of one core type, without the conditional-field check. */
const envelopeOf = <T extends MessageType>(type: T) =>
  Schema.Struct({ ...headerFields, type: Schema.Literal(type), payload: payloads[type] })

/** Checks that an envelope of `type` carries the conditional field its type requires. */
const checkConditional = (type: MessageType) => {
  const required: ConditionalField | undefined = requiredFields[type]
  return (m: { readonly [K in ConditionalField]?: unknown }): true | Issue =>
    required === undefined || m[required] !== undefined ||
    { path: required, message: `is missing: a ${type} envelope carries ${required} (§6.1.1)` }
}

/** The full envelope schema of one core type, with its conditional field required. */
export const schemaOf = <T extends MessageType>(type: T) => {
  const check = checkConditional(type)
  return envelopeOf(type).pipe(
    Schema.filter((m) => {
      const r = check(m)
      return r === true || { path: [r.path], message: r.message }
    }),
    Schema.annotations({ identifier: type })
  )
}

/** Every core message as one `Schema.Union` (for tools that want a single schema; the codec does not use it). */
export const MessageUnion = Schema.Union(...messageTypes.map(schemaOf))

/** One issue of a failed decode: where (a path from the envelope root) and what. */
export interface Issue {
  readonly path: string
  readonly message: string
}

/**
 * A frame that is not a valid message. `reason` tells the Connection how to
 * answer: `Json`, `TooDeep` and `Envelope`/`Payload` → nack INVALID_ARGUMENT;
 * `UnknownType` → the §21.3 rules. `id` and `type` are filled when they could be read.
 */
export class DecodeError extends Schema.TaggedError<DecodeError>()("DecodeError", {
  reason: Schema.Literal("Json", "TooDeep", "Envelope", "Payload", "UnknownType"),
  id: Schema.optional(Schema.String),
  type: Schema.optional(Schema.String),
  issues: Schema.Array(Schema.Struct({ path: Schema.String, message: Schema.String }))
}) {
  /** The first issue as `path: message`, prefixed with the type when known. */
  override get message(): string {
    const first = this.issues[0]
    const where = first === undefined ? "" : `${first.path === "" ? "(root)" : first.path}: ${first.message}`
    return this.type === undefined ? where : `${this.type}: ${where}`
  }
}

const formatPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join("")

const LITERAL_MISMATCH = /^Expected (".*"|undefined), actual (.*)$/s

/** Most issues a decode error reports, and most characters of each: the offending value is never echoed whole. */
const MAX_ISSUES = 16
const MAX_ISSUE_CHARS = 240

const clip = (text: string): string => (text.length <= MAX_ISSUE_CHARS ? text : `${text.slice(0, MAX_ISSUE_CHARS)}…`)

/**
 * One issue per path, readable: a failed optional literal union reports every
 * alternative ("Expected \"low\"", ..., "Expected undefined"); fold those into
 * one "Expected one of ..." line. Bounded: at most MAX_ISSUES issues, each clipped.
 */
const issuesOf = (error: ParseResult.ParseError): ReadonlyArray<Issue> =>
  foldIssues(error).slice(0, MAX_ISSUES).map((i) => ({ path: clip(i.path), message: clip(i.message) }))

const foldIssues = (error: ParseResult.ParseError): ReadonlyArray<Issue> => {
  const byPath = new Map<string, Array<string>>()
  for (const i of ParseResult.ArrayFormatter.formatErrorSync(error)) {
    const path = formatPath(i.path)
    byPath.set(path, [...(byPath.get(path) ?? []), i.message])
  }
  const paths = [...byPath.keys()]
  // an optional field whose inner check failed also reports "Expected undefined" on the parent: drop it
  const entries = [...byPath].filter(([path, messages]) =>
    !(messages.every((m) => m.startsWith("Expected undefined")) && paths.some((p) => p.startsWith(`${path}.`)))
  )
  return entries.map(([path, messages]) => {
    const meaningful = messages.length > 1 ? messages.filter((m) => !m.startsWith("Expected undefined")) : messages
    const literals = meaningful.map((m) => LITERAL_MISMATCH.exec(m))
    if (meaningful.length > 1 && literals.every((m) => m !== null)) {
      const expected = literals.map((m) => m?.[1]).join(", ")
      return { path, message: `Expected one of ${expected}, actual ${literals[0]?.[2] ?? ""}` }
    }
    return { path, message: meaningful.join("; ") }
  })
}

type Decoder = (u: unknown) => Either.Either<Decoded, ParseResult.ParseError>
const options = { errors: "all", onExcessProperty: "ignore" } as const

const decoders = new Map<string, Decoder>(
  messageTypes.map((t): [string, Decoder] => [t, Schema.decodeUnknownEither(schemaOf(t), options)])
)
const decodeEnvelope = Schema.decodeUnknownEither(Envelope, options)

const readString = (u: unknown, key: string): string | undefined => {
  if (typeof u !== "object" || u === null) return undefined
  const v: unknown = Reflect.get(u, key)
  return typeof v === "string" ? v : undefined
}

/** A JSON object: not an array, not null, not a class instance. */
const isPlainObject = (u: unknown): boolean => {
  if (typeof u !== "object" || u === null) return false
  const proto: unknown = Object.getPrototypeOf(u)
  return proto === Object.prototype || proto === null
}

/** How a non-object payload is named in the error. */
const describeValue = (u: unknown): string =>
  Array.isArray(u)
    ? "an array"
    : typeof u === "object" && u !== null
    ? "a non-plain object"
    : JSON.stringify(u) ?? String(u)

type PayloadDecoder = (u: unknown) => Either.Either<PayloadOf<MessageType>, ParseResult.ParseError>
/** `payloads` as a mapped type, so that a payload decoder keeps its payload's type. */
const payloadSchemas: {
  readonly [K in MessageType]: Schema.Schema<PayloadOf<K>, Schema.Schema.Encoded<(typeof payloads)[K]>>
} = payloads
const payloadDecoderOf = <T extends MessageType>(type: T): PayloadDecoder =>
  Schema.decodeUnknownEither(payloadSchemas[type], options)
const payloadDecoders = new Map<string, PayloadDecoder>(messageTypes.map((t) => [t, payloadDecoderOf(t)]))

/**
 * The fast path of a core message: the header by `HeaderCheck` (plain comparisons), the payload by its
 * type's schema. `undefined` whenever the Schema decode of the whole envelope must decide (and explain).
 * Accepts only what that decode accepts, and builds the same value (held to it by HeaderCheck.test).
 * Exported for that test and bench/decode.
 */
export const decodeFast = (u: unknown): Decoded | undefined => {
  if (typeof u !== "object" || u === null || !isPlainObject(u)) return undefined
  const type: unknown = Reflect.get(u, "type")
  if (typeof type !== "string" || !isMessageType(type)) return undefined
  const payloadDecoder = payloadDecoders.get(type)
  const payload: unknown = Reflect.get(u, "payload")
  if (payloadDecoder === undefined || !isPlainObject(payload)) return undefined
  const header = readHeader(u)
  if (header === undefined) return undefined
  const required = requiredFields[type]
  if (required !== undefined && header[required] === undefined) return undefined
  const decoded = payloadDecoder(payload)
  // assigned, not spread: a spread of the header cost more than all of its checks
  return Either.isRight(decoded) ? Object.assign(header, { type, payload: decoded.right }) : undefined
}

/** Decodes an already-parsed JSON value into a message. */
export const decode = (u: unknown): Either.Either<Decoded, DecodeError> => {
  const fast = decodeFast(u)
  return fast !== undefined ? Either.right(fast) : decodeWithSchema(u)
}

/** `decode` by the Schema of the whole envelope alone: what the fast path is held to, and every error's source. */
export const decodeWithSchema = (u: unknown): Either.Either<Decoded, DecodeError> => {
  const type = readString(u, "type")
  const known = type === undefined ? undefined : decoders.get(type)
  // the id and type are read for the error only: the success path stays lean
  const context = () => {
    const id = readString(u, "id")
    return { ...(id !== undefined ? { id } : {}), ...(type !== undefined ? { type } : {}) }
  }
  // every payload is a JSON object (WIRE); `Schema.Struct({})` alone would let "s", 5 or [] through
  const payload = typeof u === "object" && u !== null ? Reflect.get(u, "payload") : undefined
  if (payload !== undefined && !isPlainObject(payload)) {
    const issues = [{ path: "payload", message: `Expected a JSON object, actual ${describeValue(payload)}` }]
    return Either.left(new DecodeError({ reason: known !== undefined ? "Payload" : "Envelope", ...context(), issues }))
  }
  if (known !== undefined) {
    const result = known(u)
    if (Either.isRight(result)) return Either.right(result.right)
    const issues = issuesOf(result.left)
    const reason = issues.every((i) => i.path === "payload" || i.path.startsWith("payload.")) ? "Payload" : "Envelope"
    return Either.left(new DecodeError({ reason, ...context(), issues }))
  }
  return Either.match(decodeEnvelope(u), {
    onLeft: (e) => Either.left(new DecodeError({ reason: "Envelope", ...context(), issues: issuesOf(e) })),
    onRight: (envelope) =>
      isExtensionType(envelope.type)
        ? Either.right(envelope)
        : Either.left(
          new DecodeError({
            reason: "UnknownType",
            ...context(),
            issues: [{ path: "type", message: `unknown message type "${envelope.type}"` }]
          })
        )
  })
}

/**
 * Decodes one JSON text frame into a message. With `maxDepth`, text nesting
 * deeper than that is refused before it is parsed (`TooDeep`): nothing
 * recursive ever sees it.
 */
export const decodeJson = (
  text: string,
  options: { readonly maxDepth?: number | undefined } = {}
): Either.Either<Decoded, DecodeError> => {
  if (options.maxDepth !== undefined && exceedsDepth(text, options.maxDepth)) {
    const message = `JSON nests deeper than ${options.maxDepth} levels (the limit of this runtime)`
    return Either.left(new DecodeError({ reason: "TooDeep", issues: [{ path: "", message }] }))
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (e) {
    return Either.left(
      new DecodeError({ reason: "Json", issues: [{ path: "", message: `malformed JSON: ${String(e)}` }] })
    )
  }
  return decode(parsed)
}

/**
 * Decodes with the single `MessageUnion` schema. In effect 3.22 a Union dispatches on the literal
 * `type` internally and measures about as fast as `decode` (bench/codec); `decode` is kept for its
 * errors (type and path named, unknown vs extension types told apart).
 */
export const decodeWithUnion = Schema.decodeUnknownEither(MessageUnion, options)

type Encoder = (u: unknown) => Either.Either<unknown, ParseResult.ParseError>
// encoding through the refinement of `schemaOf` validates the struct twice (about 2x slower):
// encode with the bare struct, and check the conditional field by hand in `encode`
const encoders = new Map<string, Encoder>(
  messageTypes.map((t): [string, Encoder] => [t, Schema.encodeUnknownEither(envelopeOf(t))])
)
const encodeEnvelope = Schema.encodeUnknownEither(Envelope)

/**
 * Encodes a message to its JSON text, validating it against its schema first,
 * so nothing malformed leaves. Fails with the same `DecodeError` shape.
 */
export const encode = (message: Decoded): Either.Either<string, DecodeError> => {
  const conditional = isMessageType(message.type) ? checkConditional(message.type)(message) : true
  if (conditional !== true) {
    return Either.left(
      new DecodeError({ reason: "Envelope", id: message.id, type: message.type, issues: [conditional] })
    )
  }
  const encoder = encoders.get(message.type)
  const result: Either.Either<unknown, ParseResult.ParseError> = encoder !== undefined
    ? encoder(message)
    : encodeEnvelope(message)
  return Either.match(result, {
    onLeft: (e) =>
      Either.left(new DecodeError({ reason: "Payload", id: message.id, type: message.type, issues: issuesOf(e) })),
    onRight: (json) => Either.right(JSON.stringify(json))
  })
}

/** Encodes without validation: for messages this process built from typed values (they are valid by construction). */
export const encodeUnchecked = (message: Decoded): string => JSON.stringify(message)

/**
 * Encodes without validation and never throws: a message carrying what JSON
 * cannot hold (nesting too deep for the stack, a cycle, a BigInt) is a Left
 * with the reason. For envelopes that carry values a tool produced.
 */
export const tryEncode = (message: Decoded): Either.Either<string, string> => {
  try {
    return Either.right(JSON.stringify(message))
  } catch (e) {
    return Either.left(e instanceof Error ? e.message.slice(0, 200) : "not representable as JSON")
  }
}
