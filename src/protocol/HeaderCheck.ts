/**
 * The envelope header's rules (RFC §6.1, `Envelope.headerFields`) as plain comparisons: the codec's
 * fast path (issue 12). It only ever accepts: whatever it is not sure of (a field outside its rules,
 * `extensions`, a field present with no value) is left to the Schema decode, which says what is wrong.
 * On acceptance it builds what the Schema decode builds: the known fields in the schema's order,
 * unknown ones dropped. `test/protocol/HeaderCheck.test.ts` holds the two to the same answers.
 */
import type { Header } from "./Envelope.js"
import type { JobId, MessageId, SessionId, SpanId, StreamId, SubscriptionId, TraceId } from "./Ids.js"
import { isTimestamp } from "./Timestamp.js"

export type Mutable<T> = { -readonly [K in keyof T]: T[K] }

/** `ProtocolVersion`'s pattern. */
const VERSION = /^[0-9]+\.[0-9]+$/

/** A field's rule: true when its value passes the field's schema (the value then has the schema's type). */
type Rule<A> = (v: unknown) => v is A

const isString = (v: unknown): v is string => typeof v === "string"

/** An id (`Ids.idSchema`): a string of 1 to 256 UTF-16 units, whatever its brand. */
const isId = <A extends string>(): Rule<A> => (v: unknown): v is A =>
  typeof v === "string" && v.length >= 1 && v.length <= 256

const isKey = (v: unknown): v is string => typeof v === "string" && v.length >= 1 && v.length <= 512

const isPriority = (v: unknown): v is NonNullable<Header["priority"]> =>
  v === "low" || v === "normal" || v === "high" || v === "critical"

/** `extensions` (a record with a per-key filter) always goes the Schema way: it is rare, and its rules are many. */
const never = (_v: unknown): _v is never => false

/** The optional header fields in `headerFields`' order, each with its rule. */
type OptionalField = Exclude<keyof Header, "arcp" | "id" | "timestamp">
const optionalRules: { readonly [K in OptionalField]: Rule<NonNullable<Header[K]>> } = {
  source: isString,
  target: isString,
  session_id: isId<SessionId>(),
  job_id: isId<JobId>(),
  stream_id: isId<StreamId>(),
  subscription_id: isId<SubscriptionId>(),
  trace_id: isId<TraceId>(),
  span_id: isId<SpanId>(),
  parent_span_id: isId<SpanId>(),
  correlation_id: isId<MessageId>(),
  causation_id: isId<MessageId>(),
  idempotency_key: isKey,
  priority: isPriority,
  extensions: never
}

/** The field names the rules cover, in order (a test checks them against `headerFields`). */
export const checkedFields: ReadonlyArray<keyof Header> = ["arcp", "id", "timestamp", ...keysOf(optionalRules)]

function keysOf<K extends string>(record: { readonly [k in K]: unknown }): ReadonlyArray<K> {
  return Object.keys(record).filter((k): k is K => Object.prototype.hasOwnProperty.call(record, k))
}
const optionalFields = keysOf(optionalRules)

const isMessageId = isId<MessageId>()

/** Copies `key` when `u` has it as its own field: false when its value breaks the rule. */
const copy = <K extends OptionalField>(u: object, header: Mutable<Header>, key: K): boolean => {
  // an optional field is read only when own (as the Schema decode does); a present `undefined` fails the rule
  if (!Object.prototype.hasOwnProperty.call(u, key)) return true
  const value: unknown = Reflect.get(u, key)
  if (!optionalRules[key](value)) return false
  header[key] = value
  return true
}

/**
 * The header of envelope `u` when every field passes its rule, built as the Schema decode builds it;
 * `undefined` when the Schema decode must decide. The required fields are read as the decode reads
 * them (inherited ones included), the optional ones only when own.
 */
export const readHeader = (u: object): Mutable<Header> | undefined => {
  const arcp: unknown = Reflect.get(u, "arcp")
  const id: unknown = Reflect.get(u, "id")
  const timestamp: unknown = Reflect.get(u, "timestamp")
  if (typeof arcp !== "string" || !VERSION.test(arcp) || !isMessageId(id)) return undefined
  if (typeof timestamp !== "string" || !isTimestamp(timestamp)) return undefined
  const header: Mutable<Header> = { arcp, id, timestamp }
  for (const key of optionalFields) if (!copy(u, header, key)) return undefined
  return header
}
