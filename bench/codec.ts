/**
 * bench/codec: envelopes per second through the message codec, on a mix of
 * JSON text frames as a busy session sees them (25% each of tool.invoke,
 * job.progress, stream.chunk with ~200 bytes of text, and subscribe.event
 * wrapping a job.progress). Compares decoding by `type` lookup with decoding
 * by the `Schema.Union` of every message, validated and unchecked encoding,
 * and bare JSON.parse / JSON.stringify as the floor. Prints numbers; asserts
 * only that every frame decodes and encodes.
 */
import { Either } from "effect"
import { performance } from "node:perf_hooks"
import * as Message from "../src/protocol/Message.js"

const FRAMES = 4000
const WARMUP_PASSES = 10

// Deterministic pseudo-random numbers (mulberry32), so both runs time the same frames.
let seed = 0x2545f491
const random = (): number => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}
const pick = <A>(items: ReadonlyArray<A>): A => items[Math.floor(random() * items.length)] as A

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
const id = (prefix: string): string => {
  let s = `${prefix}_01J`
  for (let i = 0; i < 23; i++) s += CROCKFORD.charAt(Math.floor(random() * 32))
  return s
}

let clock = Date.parse("2025-06-01T12:00:00.000Z")
const timestamp = (): string => new Date(clock += Math.floor(random() * 40)).toISOString()

const WORDS = [
  "the",
  "agent",
  "reads",
  "file",
  "config",
  "and",
  "writes",
  "a",
  "patch",
  "for",
  "module",
  "test",
  "result",
  "passes",
  "with",
  "output",
  "stream",
  "token",
  "runtime",
  "job"
]
const text = (bytes: number): string => {
  let s = ""
  while (s.length < bytes) s += `${pick(WORDS)} `
  return s.slice(0, bytes)
}

/** One session, a few jobs each with a stream: the ids a real connection reuses. */
const sessionId = id("sess")
const subscriptionId = id("sub")
const jobs = Array.from({ length: 16 }, () => ({
  invokeId: id("msg"),
  jobId: id("job"),
  streamId: id("str"),
  traceId: id("trace"),
  sequence: 0,
  percent: 0
}))

const header = (type: string) => ({ arcp: "1.0", id: id("msg"), timestamp: timestamp(), type, session_id: sessionId })

const toolInvoke = () => {
  const job = pick(jobs)
  return {
    ...header("tool.invoke"),
    trace_id: job.traceId,
    span_id: id("span"),
    idempotency_key: id("idem"),
    payload: {
      tool: pick(["fs.search", "fs.read", "shell.run", "http.fetch"]),
      arguments: {
        query: `${pick(WORDS)}/*.ts`,
        page: Math.floor(random() * 10),
        limit: 50,
        recursive: true,
        exclude: ["node_modules", "dist"]
      }
    }
  }
}

/** Job events carry job_id, and name the tool.invoke that caused them (WIRE.md: correlation_id is for replies). */
const jobProgress = () => {
  const job = pick(jobs)
  job.percent = Math.min(100, job.percent + Math.floor(random() * 5))
  return {
    ...header("job.progress"),
    job_id: job.jobId,
    trace_id: job.traceId,
    causation_id: job.invokeId,
    payload: { percent: job.percent, message: `processing ${text(24).trim()}`, current: job.percent * 12, total: 1200 }
  }
}

const streamChunk = () => {
  const job = pick(jobs)
  return {
    ...header("stream.chunk"),
    job_id: job.jobId,
    stream_id: job.streamId,
    trace_id: job.traceId,
    causation_id: job.invokeId,
    payload: { sequence: job.sequence++, data: text(200) }
  }
}

const subscribeEvent = () => ({
  ...header("subscribe.event"),
  subscription_id: subscriptionId,
  payload: { event: jobProgress() }
})

const makers = [toolInvoke, jobProgress, streamChunk, subscribeEvent]
const frames: ReadonlyArray<string> = Array.from(
  { length: FRAMES },
  (_, i) => JSON.stringify(makers[i % makers.length]!())
)
const parsed: ReadonlyArray<unknown> = frames.map((f) => JSON.parse(f))

// Every frame must decode (both ways) and encode, or the timings mean nothing.
const messages: ReadonlyArray<Message.Decoded> = frames.map((frame, i) => {
  const fail = (what: string, detail: unknown): never => {
    throw new Error(`bench/codec: frame ${i} failed to ${what}: ${String(detail)}\n${frame}`)
  }
  const byType = Message.decodeJson(frame)
  if (Either.isLeft(byType)) return fail("decode by type", byType.left.message)
  if (Either.isLeft(Message.decodeWithUnion(JSON.parse(frame)))) fail("decode by union", "Left")
  const encoded = Message.encode(byType.right)
  if (Either.isLeft(encoded)) fail("encode", encoded.left.message)
  return byType.right
})

/** Runs `op` over `items`, cycling, `n` times after a warm-up; prints one line and returns envelopes/s. */
const measure = <A>(name: string, n: number, items: ReadonlyArray<A>, op: (item: A) => unknown): number => {
  let sink = 0
  const touch = (r: unknown) => {
    if (r !== undefined) sink++
  }
  for (let pass = 0; pass < WARMUP_PASSES; pass++) for (const item of items) touch(op(item))
  const start = performance.now()
  for (let i = 0; i < n; i++) touch(op(items[i % items.length]!))
  const elapsed = performance.now() - start
  if (sink < n) throw new Error(`bench/codec: ${name} returned undefined`)
  const rate = (n / elapsed) * 1000
  console.log(
    `${name.padEnd(44)} ${rate.toFixed(0).padStart(10)} env/s ${
      ((elapsed * 1000) / n).toFixed(3).padStart(9)
    } µs/env   (n=${n}, ${(elapsed / 1000).toFixed(2)} s)`
  )
  return rate
}

// n per row chosen so each row takes ~1-2 s on a 2-core machine (schema rows ~5 µs, JSON rows ~1 µs).
console.log(
  `bench/codec (${FRAMES} distinct frames, ${
    (frames.reduce((s, f) => s + f.length, 0) / FRAMES).toFixed(0)
  } bytes average)`
)
const lookup = measure("decode+validate, lookup by type", 300_000, frames, Message.decodeJson)
const union = measure(
  "decode+validate, Schema.Union (JSON.parse)",
  300_000,
  frames,
  (f) => Message.decodeWithUnion(JSON.parse(f))
)
measure("encode, validated", 250_000, messages, Message.encode)
measure("encode, unchecked (JSON.stringify)", 1_500_000, messages, Message.encodeUnchecked)
measure("baseline: JSON.parse", 1_500_000, frames, (f) => JSON.parse(f))
measure("baseline: JSON.stringify", 1_500_000, parsed, (p) => JSON.stringify(p))
console.log(`lookup/union: ${(lookup / union).toFixed(2)}× (decode by type lookup vs by union)`)
