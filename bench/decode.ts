/**
 * bench/decode: the codec's decode per message type, the fast path (`Message.decode`: the header by
 * plain comparisons, the payload by its schema) against the Schema decode of the whole envelope
 * (`Message.decodeWithSchema`, what every frame cost before), in the same run. One realistic frame per
 * core type (test/fixtures/samples) with the header a runtime sends (session, job, trace and span ids).
 * Prints µs per decode and the ratio, per type and over the seven envelopes a client reads per `echo`
 * in bench/split. Asserts only that both decodes accept every frame.
 */
import { Either } from "effect"
import { performance } from "node:perf_hooks"
import * as Message from "../src/protocol/Message.js"
import { samples } from "../test/fixtures/samples.js"

const ROUNDS = Number(process.env["BENCH_ROUNDS"] ?? 5)
const ITERATIONS = Number(process.env["BENCH_ITERATIONS"] ?? 4000)

const header = {
  arcp: "1.0",
  id: "msg_01KB0S9ZQ3W3V4XJ5E6Y7Z8A9B",
  timestamp: "2026-11-30T02:31:07.123Z",
  session_id: "sess_01KB0S9ZQ3W3V4XJ5E6Y7Z8A9C",
  job_id: "job_01KB0S9ZQ3W3V4XJ5E6Y7Z8A9D",
  stream_id: "str_01KB0S9ZQ3W3V4XJ5E6Y7Z8A9E",
  subscription_id: "sub_01KB0S9ZQ3W3V4XJ5E6Y7Z8A9F",
  trace_id: "0af7651916cd43dd8448eb211c80319c",
  span_id: "b7ad6b7169203331",
  correlation_id: "msg_01KB0S9ZQ3W3V4XJ5E6Y7Z8A90"
}

const frameOf = (type: string, payload: unknown): string => JSON.stringify({ ...header, type, payload })

/** The seven envelopes bench/split's scripted runtime sends per echo. */
const echoFrames = [
  frameOf("job.accepted", { job_id: header.job_id, accepted_at: header.timestamp }),
  frameOf("job.started", { job_id: header.job_id, started_at: header.timestamp }),
  frameOf("metric", { name: "tool.invocations", value: 1, unit: "count", dims: { tool: "echo" } }),
  ...["queue", "exec", "total"].map((phase) =>
    frameOf("metric", { name: "latency.ms", value: 1, unit: "ms", dims: { phase, tool: "echo" } })
  ),
  frameOf("tool.result", { value: { a: 1 } })
]

type Decode = (u: unknown) => Either.Either<Message.Decoded, Message.DecodeError>

/** µs per frame of `decode` over `frames` (parsed each time, as a client does), best of ROUNDS. */
const time = (frames: ReadonlyArray<string>, decode: Decode): number => {
  let best = Number.POSITIVE_INFINITY
  for (let round = 0; round < ROUNDS; round++) {
    const start = performance.now()
    for (let i = 0; i < ITERATIONS; i++) {
      for (const frame of frames) {
        if (Either.isLeft(decode(JSON.parse(frame)))) throw new Error(`refused: ${frame.slice(0, 200)}`)
      }
    }
    best = Math.min(best, ((performance.now() - start) * 1000) / (ITERATIONS * frames.length))
  }
  return best
}

const row = (name: string, frames: ReadonlyArray<string>) => {
  // alternated, the Schema decode first: neither gets the warmer machine
  const schema = time(frames, Message.decodeWithSchema)
  const fast = time(frames, Message.decode)
  const ratio = schema / fast
  console.log(
    `${name.padEnd(28)} ${schema.toFixed(2).padStart(7)} µs ${fast.toFixed(2).padStart(7)} µs ${
      ratio.toFixed(2).padStart(6)
    }x`
  )
  return ratio
}

console.log(`bench/decode (JSON.parse + decode, best of ${ROUNDS} rounds of ${ITERATIONS} per frame)`)
console.log(`${"message type".padEnd(28)} ${"Schema".padStart(10)} ${"fast".padStart(10)} ${"ratio".padStart(7)}`)
row("echo's 7 envelopes (split)", echoFrames)
const ratios = Message.messageTypes.map((type) => row(type, [frameOf(type, samples[type])]))
const sorted = [...ratios].sort((a, b) => a - b)
console.log(
  `over ${ratios.length} core types: ratio min ${sorted[0]?.toFixed(2)}x, median ${
    sorted[Math.floor(sorted.length / 2)]?.toFixed(2)
  }x, max ${sorted[sorted.length - 1]?.toFixed(2)}x`
)
