/**
 * Branded identifiers and their generators (RFC §6.1.1). Ids minted here are
 * `<prefix>_<ulid>`: unique, and sortable by creation time. Ids that name a
 * session or grant access (sessions, challenges, jobs, leases, ...) take their
 * random part from node:crypto, fresh for each id; message, trace and span ids
 * from the Effect `Random`, monotonic within a millisecond (cheap, and knowing
 * one grants nothing: dedup is per principal).
 */
import { Clock, Effect, Schema } from "effect"
import { randomFillSync } from "node:crypto"
import { withMillis } from "../internal/Now.js"

/**
 * A branded id schema. On decode any non-empty string of at most 256 chars is
 * accepted: peers mint ids their own way, so the prefix is a convention of the
 * ids *we* generate, not a wire rule (see `hasPrefix`).
 */
const idSchema = <const B extends string>(brand: B) =>
  Schema.String.pipe(Schema.minLength(1), Schema.maxLength(256), Schema.brand(brand))

export const SessionId = idSchema("SessionId")
export type SessionId = typeof SessionId.Type
export const MessageId = idSchema("MessageId")
export type MessageId = typeof MessageId.Type
export const JobId = idSchema("JobId")
export type JobId = typeof JobId.Type
export const StreamId = idSchema("StreamId")
export type StreamId = typeof StreamId.Type
export const SubscriptionId = idSchema("SubscriptionId")
export type SubscriptionId = typeof SubscriptionId.Type
export const LeaseId = idSchema("LeaseId")
export type LeaseId = typeof LeaseId.Type
export const ArtifactId = idSchema("ArtifactId")
export type ArtifactId = typeof ArtifactId.Type
export const CheckpointId = idSchema("CheckpointId")
export type CheckpointId = typeof CheckpointId.Type
export const ChallengeId = idSchema("ChallengeId")
export type ChallengeId = typeof ChallengeId.Type
export const TraceId = idSchema("TraceId")
export type TraceId = typeof TraceId.Type
export const SpanId = idSchema("SpanId")
export type SpanId = typeof SpanId.Type

/** The prefix each kind of id this implementation mints carries. */
export const prefixes = {
  session: "sess",
  message: "msg",
  job: "job",
  stream: "str",
  subscription: "sub",
  lease: "lease",
  artifact: "art",
  checkpoint: "chk",
  challenge: "chal",
  trace: "trace",
  span: "span",
  schedule: "sch"
} as const

const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ" // Crockford base32, as ULID

// Monotonic state: within one millisecond the random part is incremented, so
// ids minted by this process sort in creation order even at sub-ms rates. The
// time prefix and the random part's high half are encoded once per millisecond;
// an id within it costs an increment and an 8-digit encoding.
let lastTime = -1
let timePrefix = ""
let randomHigh = "" // 8 base32 digits (40 bits), fixed within the millisecond
let randomLow = 0 // the low 40 bits, incremented per id

const LOW_LIMIT = 2 ** 40

const encodeTime = (ms: number): string => {
  let out = ""
  let t = ms
  for (let i = 0; i < 10; i++) {
    out = ALPHABET.charAt(t % 32) + out
    t = Math.floor(t / 32)
  }
  return out
}

/** Eight base32 digits of a number below 2^40. */
const digits8 = (value: number): string => {
  let n = value
  let out = ""
  for (let i = 0; i < 8; i++) {
    out = ALPHABET.charAt(n % 32) + out
    n = Math.floor(n / 32)
  }
  return out
}

/** The next monotonic id of millisecond `ms` (its random part seeded by `r1`, `r2` when the millisecond is new). */
const monotonicAt = (ms: number, r1: number, r2: number): string => {
  if (ms !== lastTime) {
    lastTime = ms
    timePrefix = encodeTime(ms)
    // 40 bits from each of two uniform draws
    randomHigh = digits8(Math.floor(r1 * LOW_LIMIT))
    randomLow = Math.floor(r2 * LOW_LIMIT)
  } else if (++randomLow >= LOW_LIMIT) {
    // the low half overflowed (2^40 ids in one millisecond): carry into the high half
    randomLow = 0
    let high = 0
    for (let i = 0; i < 8; i++) high = high * 32 + ALPHABET.indexOf(randomHigh.charAt(i))
    randomHigh = digits8((high + 1) % LOW_LIMIT)
  }
  return timePrefix + randomHigh + digits8(randomLow)
}

/** Random bytes drawn from node:crypto a pool at a time (one system call per 409 ids). */
const pool = new Uint8Array(4096)
let poolOffset = pool.length

/** Eight base32 digits from 40 bits (5 bytes of the pool from `at`). */
const encode40 = (at: number): string => {
  let n = 0
  for (let i = 0; i < 5; i++) n = n * 256 + (pool[at + i] ?? 0)
  let out = ""
  for (let i = 0; i < 8; i++) {
    out = ALPHABET.charAt(n % 32) + out
    n = Math.floor(n / 32)
  }
  return out
}

/** 80 fresh random bits from node:crypto as 16 base32 digits. */
const cryptoRandomPart = (): string => {
  if (poolOffset + 10 > pool.length) {
    randomFillSync(pool)
    poolOffset = 0
  }
  const at = poolOffset
  poolOffset += 10
  return encode40(at) + encode40(at + 5)
}

/**
 * A ULID-shaped string (26 chars): the Effect `Clock`'s time and 80 random
 * bits from node:crypto, fresh for every id (no monotonic increment, which
 * would let one id predict the next): unguessable; sorted by millisecond only.
 */
export const secureUlid: Effect.Effect<string> = withMillis((ms) => Effect.succeed(encodeTime(ms) + cryptoRandomPart()))

/** The next monotonic ULID of millisecond `ms` when it needs no draw from `Random` (an id was made in `ms` already). */
const nextUlidIn = (ms: number): string | undefined => ms === lastTime ? monotonicAt(ms, 0, 0) : undefined

/** The next monotonic ULID of millisecond `ms`; `Random` is drawn only when the millisecond is new. */
export const ulidAt = (ms: number): Effect.Effect<string> => {
  // computed here: no other fiber runs in between
  const next = nextUlidIn(ms)
  return next !== undefined
    ? Effect.succeed(next)
    : Effect.randomWith((random) => Effect.zipWith(random.next, random.next, (r1, r2) => monotonicAt(ms, r1, r2)))
}

/** A ULID-shaped string (26 chars) from the Effect `Clock` and `Random`, monotonic within a millisecond. */
export const ulid: Effect.Effect<string> = Effect.flatMap(Clock.currentTimeMillis, ulidAt)

const messageIdOf = (u: string): MessageId => MessageId.make(`${prefixes.message}_${u}`, { disableValidation: true })

/** The message id for millisecond `ms` when it needs no draw from `Random` (an id was made in `ms` already). */
export const nextMessageIdIn = (ms: number): MessageId | undefined => {
  const next = nextUlidIn(ms)
  return next === undefined ? undefined : messageIdOf(next)
}

/** A message id for millisecond `ms` (the caller read the Clock once for the id and the timestamp). */
export const messageIdAt = (ms: number): Effect.Effect<MessageId> => Effect.map(ulidAt(ms), messageIdOf)

// the generated strings satisfy the schemas by construction (non-empty, < 256 chars): not validated again
const generator = <A>(
  prefix: string,
  brand: (s: string, options: { readonly disableValidation: true }) => A,
  source: Effect.Effect<string> = ulid
): Effect.Effect<A> => Effect.map(source, (u) => brand(`${prefix}_${u}`, { disableValidation: true }))

/** An unguessable id in one fiber step (a job and a session each take one; issue 12). */
const secureGenerator = <A>(
  prefix: string,
  brand: (s: string, options: { readonly disableValidation: true }) => A
): Effect.Effect<A> =>
  withMillis((ms) =>
    Effect.succeed(brand(`${prefix}_${encodeTime(ms)}${cryptoRandomPart()}`, { disableValidation: true }))
  )

// They name a session or something that can be acted on: unguessable (node:crypto).
export const makeSessionId = secureGenerator(prefixes.session, SessionId.make)
export const makeJobId = secureGenerator(prefixes.job, JobId.make)
export const makeStreamId = secureGenerator(prefixes.stream, StreamId.make)
export const makeSubscriptionId = secureGenerator(prefixes.subscription, SubscriptionId.make)
export const makeLeaseId = secureGenerator(prefixes.lease, LeaseId.make)
export const makeArtifactId = secureGenerator(prefixes.artifact, ArtifactId.make)
export const makeCheckpointId = secureGenerator(prefixes.checkpoint, CheckpointId.make)
export const makeChallengeId = secureGenerator(prefixes.challenge, ChallengeId.make)
// Labels: cheap and monotonic (Effect Random); knowing one grants nothing.
export const makeMessageId = generator(prefixes.message, MessageId.make)
export const makeTraceId = generator(prefixes.trace, TraceId.make)
export const makeSpanId = generator(prefixes.span, SpanId.make)
/** Schedules (§10.6) are named by a `sch_` id, carried where a job id goes (job.accepted, cancel). */
export const makeScheduleId = generator(prefixes.schedule, JobId.make)

/** True when `id` was minted with the given kind's prefix. */
export const hasPrefix = (id: string, kind: keyof typeof prefixes): boolean => id.startsWith(`${prefixes[kind]}_`)

/** Milliseconds since the epoch encoded in an id this implementation minted. */
export const timeOf = (id: string): number | undefined => {
  const underscore = id.lastIndexOf("_")
  const part = id.slice(underscore + 1, underscore + 11)
  if (part.length !== 10) return undefined
  let ms = 0
  for (const ch of part) {
    const v = ALPHABET.indexOf(ch)
    if (v < 0) return undefined
    ms = ms * 32 + v
  }
  return ms
}
