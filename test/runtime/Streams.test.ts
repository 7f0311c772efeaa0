/**
 * A job's streams (runtime/Streams) under the Jobs service, memory log: what a chunk costs when its readers
 * have room. A chunk that need not wait must not arm the backpressure timeout: racing a timer made every chunk
 * yield, so the log committed chunks one or two at a time (issue 12, docs/benchmarks.md "Stream chunks").
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { make as makeEnvelope } from "../../src/protocol/Envelope.js"
import { SessionId } from "../../src/protocol/Ids.js"
import * as Jobs from "../../src/runtime/jobs/Jobs.js"
import * as Tools from "../../src/runtime/Tools.js"
import { ForkCounter } from "../support/ForkCounter.js"
import { jobsServices, queueSession } from "../support/Harness.js"

/** `chunks {n}`: a text stream of n chunks, closed, then the count. */
const chunks = Tools.make({
  name: "chunks",
  parameters: Tools.AnyArguments,
  handler: (args, ctx) =>
    Effect.gen(function*() {
      const n = Number(args["n"])
      const stream = yield* ctx.stream({ kind: "text" })
      for (let i = 0; i < n; i++) yield* stream.write(`chunk ${i}`)
      yield* stream.close()
      return n
    })
})

/** The fibers a `chunks {n}` job starts, run to its result. */
const forksFor = (n: number) =>
  Effect.gen(function*() {
    const jobs = yield* Jobs.Jobs
    const sessionId = SessionId.make("sess_streams")
    const { owner, until } = yield* queueSession(sessionId)
    const fibers = new ForkCounter()
    const invoke = yield* makeEnvelope("tool.invoke", { tool: "chunks", arguments: { n } }, { session_id: sessionId })
    yield* jobs.invoke(invoke, owner).pipe(Effect.supervised(fibers))
    const result = yield* until((m) => m.type === "tool.result")
    assert.strictEqual(Reflect.get(result.payload, "value"), n)
    return fibers.started
  })

describe("streams", () => {
  it.scoped("R11-2 a chunk written while its readers have room starts no fiber: no timeout is raced for it", () =>
    Effect.gen(function*() {
      const none = yield* forksFor(0)
      const many = yield* forksFor(300)
      // a few fairness turns over 300 chunks at most; a timer raced per chunk forked two fibers for each
      assert.isBelow(many - none, 30, `${many - none} fibers started for 300 chunks`)
    }).pipe(Effect.provide(jobsServices([chunks]))))
})
