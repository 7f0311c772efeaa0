/** Heartbeats and the liveness watchdog (RFC §10.3), driven by TestClock over the memory transport. */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Option, Schedule, Stream, TestClock } from "effect"
import type { Decoded } from "../../../src/protocol/Message.js"
import * as Tools from "../../../src/runtime/Tools.js"
import { EventLog } from "../../../src/store/EventLog.js"
import { field, memory, open, serverLayer } from "../../support/Harness.js"

const silent = Tools.make({
  name: "silent",
  liveness: "reported",
  parameters: Tools.AnyArguments,
  handler: (_, ctx) => Effect.zipRight(ctx.heartbeat, Effect.never)
})

const diligent = Tools.make({
  name: "diligent",
  liveness: "reported",
  parameters: Tools.AnyArguments,
  handler: (_, ctx) => ctx.heartbeat.pipe(Effect.repeat(Schedule.spaced("5 seconds")), Effect.zipRight(Effect.never))
})

const server = (recovery: "fail" | "block", tools: ReadonlyArray<Tools.Tool> = []) =>
  serverLayer({
    transport: memory,
    runtime: { heartbeatIntervalSeconds: 10, heartbeatRecovery: recovery },
    tools: [silent, diligent, ...tools]
  })

/** Starts collecting a job's events in the background; `take(n)` waits for the first n. */
const watch = (events: Stream.Stream<Decoded>) =>
  Effect.gen(function*() {
    const seen: Array<Decoded> = []
    const fiber = yield* events.pipe(Stream.runForEach((m) => Effect.sync(() => seen.push(m))), Effect.fork)
    return { seen, fiber }
  })

const heartbeats = (seen: ReadonlyArray<Decoded>) => seen.filter((m) => m.type === "job.heartbeat")

describe("heartbeats", () => {
  it.scoped("R10.3-1 R10.3-4 R10.1-2 R4.3-5 a running job emits job.heartbeat at the negotiated interval with sequence, deadline_ms, state", () =>
    Effect.gen(function*() {
      const session = yield* open({ capabilities: { heartbeat_interval_seconds: 10 } })
      assert.strictEqual(session.capabilities.heartbeat_interval_seconds, 10)
      const job = yield* session.invoke("sleep", { ms: 1_000_000 })
      const { seen } = yield* watch(job.events)
      for (let i = 0; i < 3; i++) {
        yield* TestClock.adjust("10 seconds")
        yield* Effect.yieldNow()
      }
      const beats = heartbeats(seen)
      assert.deepStrictEqual(beats.map((m) => field(m, "sequence")), [1, 2, 3])
      assert.isTrue(beats.every((m) => field(m, "deadline_ms") === 10_000 && field(m, "state") === "running"))
      // heartbeats are not progress (§10.3): no progress events, and no progress fields in a heartbeat
      assert.isFalse(seen.some((m) => m.type === "job.progress"))
      for (const beat of beats) {
        assert.deepStrictEqual(Object.keys(beat.payload).sort(), ["deadline_ms", "sequence", "state"])
      }
      yield* job.cancel()
    }).pipe(Effect.provide(server("fail"))))

  it.scoped("R10.3-2 R10.3-3 the watchdog fails a silent job with HEARTBEAT_LOST after two missed deadlines", () =>
    Effect.gen(function*() {
      const session = yield* open()
      assert.strictEqual(session.capabilities.heartbeat_recovery, "fail")
      const job = yield* session.invoke("silent", {})
      const { fiber, seen } = yield* watch(job.events)
      yield* TestClock.adjust("10 seconds")
      yield* Effect.yieldNow()
      assert.isFalse(seen.some((m) => m.type === "job.failed"), "one missed deadline is tolerated")
      assert.strictEqual(heartbeats(seen).length, 0, "nothing vouches for a silent job")
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.join(fiber)
      const last = seen.at(-1)
      assert.strictEqual(last?.type, "job.failed")
      assert.strictEqual(field(last, "code"), "HEARTBEAT_LOST")
    }).pipe(Effect.provide(server("fail"))))

  it.scoped("R10.3-2 a job that reports liveness keeps running and heartbeating", () =>
    Effect.gen(function*() {
      const session = yield* open()
      const job = yield* session.invoke("diligent", {})
      const { seen } = yield* watch(job.events)
      for (let i = 0; i < 6; i++) {
        yield* TestClock.adjust("5 seconds")
        yield* Effect.yieldNow()
      }
      assert.isFalse(seen.some((m) => m.type === "job.failed"))
      assert.strictEqual(heartbeats(seen).length, 3)
      yield* job.cancel()
    }).pipe(Effect.provide(server("fail"))))

  it.scoped("R10.3-2 R10.3-3 R10.2-2 with heartbeat_recovery block, a silent job is blocked and runs again when liveness returns", () =>
    Effect.gen(function*() {
      const resume = yield* Deferred.make<void>()
      const done = yield* Deferred.make<void>()
      const flaky = Tools.make({
        name: "flaky",
        liveness: "reported",
        parameters: Tools.AnyArguments,
        handler: (_, ctx) =>
          Effect.gen(function*() {
            yield* ctx.heartbeat
            yield* Deferred.await(resume)
            // alive again: reports every 5 s until told to finish
            yield* Deferred.await(done).pipe(
              Effect.raceFirst(
                ctx.heartbeat.pipe(Effect.repeat(Schedule.spaced("5 seconds")), Effect.zipRight(Effect.never))
              )
            )
            return "recovered"
          })
      })
      yield* Effect.gen(function*() {
        const session = yield* open()
        assert.strictEqual(session.capabilities.heartbeat_recovery, "block")
        const job = yield* session.invoke("flaky", {})
        const { seen } = yield* watch(job.events)
        const state = Effect.flatMap(EventLog, (log) => log.getJob(job.jobId)).pipe(
          Effect.map((r) => Option.getOrUndefined(r)?.state)
        )
        yield* TestClock.adjust("20 seconds")
        yield* Effect.yieldNow()
        assert.deepStrictEqual(heartbeats(seen).map((m) => field(m, "state")), ["blocked"])
        assert.strictEqual(yield* state, "blocked")
        yield* Deferred.succeed(resume, undefined)
        // the next heartbeat, and the record, say running again
        for (let i = 0; i < 100 && heartbeats(seen).length < 2; i++) {
          yield* TestClock.adjust("5 seconds")
          yield* Effect.yieldNow()
        }
        assert.deepStrictEqual(heartbeats(seen).map((m) => field(m, "state")), ["blocked", "running"])
        assert.strictEqual(yield* state, "running")
        yield* Deferred.succeed(done, undefined)
        assert.strictEqual(yield* job.outcome, "recovered")
        assert.strictEqual(yield* state, "completed")
      }).pipe(Effect.provide(server("block", [flaky])))
    }))
})
