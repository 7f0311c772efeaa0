/**
 * The Jobs service on its own (memory log, TestClock): every accepted job
 * reaches exactly one terminal however early it is stopped; the job record
 * follows the job; abandoned jobs report their metrics; a session's jobs are
 * cancelled together within the cancel's deadline.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Metric, Option, Queue, Supervisor } from "effect"
import { make as makeEnvelope } from "../../../src/protocol/Envelope.js"
import { ArcpError } from "../../../src/protocol/Errors.js"
import { JobId, SessionId } from "../../../src/protocol/Ids.js"
import type { Decoded, Message } from "../../../src/protocol/Message.js"
import * as HumanInput from "../../../src/runtime/HumanInput.js"
import * as RuntimeMetrics from "../../../src/runtime/internal/RuntimeMetrics.js"
import * as Jobs from "../../../src/runtime/jobs/Jobs.js"
import * as Tools from "../../../src/runtime/Tools.js"
import { EventLog } from "../../../src/store/EventLog.js"
import { advanceUntil, jobsServices, queueSession } from "../../support/Harness.js"

const terminalTypes = new Set(["tool.result", "tool.error", "job.failed", "job.cancelled"])
const metricName = (m: Decoded) => (m.type === "metric" ? `${Reflect.get(m.payload, "name")}` : undefined)

/** A tool that waits at a pause point, then for `go`, then returns. */
const makeGated = Effect.map(Deferred.make<void>(), (go) => ({
  go,
  tool: Tools.make({
    name: "gated",
    parameters: Tools.AnyArguments,
    handler: (_, ctx) =>
      ctx.pausePoint.pipe(Effect.zipRight(Deferred.await(go)), Effect.zipRight(ctx.pausePoint), Effect.as("done"))
  })
}))

/** A tool that ignores cancellation until `free` completes (a stubborn handler the test can let go of). */
const makeDeaf = Effect.map(Deferred.make<void>(), (free) => ({
  free,
  tool: Tools.make({
    name: "deaf",
    parameters: Tools.AnyArguments,
    handler: () => Effect.uninterruptible(Deferred.await(free))
  })
}))

/** `parallel`: two branches run concurrently and one fails with its own error (a Parallel cause). */
const parallel = Tools.make({
  name: "parallel",
  parameters: Tools.AnyArguments,
  handler: () =>
    Effect.all([Effect.never, Effect.fail(ArcpError.of("NOT_FOUND", "branch b found nothing"))], {
      concurrency: "unbounded"
    })
})

const deep = (levels: number): unknown => {
  let value: unknown = "bottom"
  for (let i = 0; i < levels; i++) value = [value]
  return value
}
const cyclic: Record<string, unknown> = { name: "loop" }
cyclic["self"] = cyclic

/** Results JSON cannot carry: too deep for the stack, deeper than the limit, a cycle, a BigInt. */
const unencodable: ReadonlyArray<readonly [string, unknown]> = [
  ["10,000 levels deep", deep(10_000)],
  ["100 levels deep, past the 64 limit", deep(100)],
  ["a cycle", cyclic],
  ["a BigInt", { n: 1n }]
]

/** `returns`: returns the value it was built with (whatever its arguments). */
const returns = (value: unknown) =>
  Tools.make({ name: "returns", parameters: Tools.AnyArguments, handler: () => Effect.succeed(value) })

const services = jobsServices

/** A session as Jobs sees it: everything sent to it lands in a queue. It asked for the runtime's metrics unless `metrics` is false. */
const makeOwnerWith = (metrics: boolean) =>
  queueSession(SessionId.make("sess_test"), { heartbeatIntervalSeconds: 30, metrics })
const makeOwner = makeOwnerWith(true)

/**
 * Tracks the fibers the effects passed to `run` start (a job's fiber, a cancel's background wait,
 * and what they start); `terminals` waits until all of them have ended, then drains the inbox and
 * counts the job's terminals over `seen` and the drained rest: nothing can follow once they ended.
 * The clock moves meanwhile: the heartbeat scheduler a job started ends at its next deadline.
 */
const makeWatch = Effect.gen(function*() {
  const supervisor = yield* Supervisor.track
  const settled = Effect.gen(function*() {
    for (let fibers = yield* supervisor.value; fibers.length > 0; fibers = yield* supervisor.value) {
      yield* Fiber.awaitAll(fibers)
    }
  })
  return {
    run: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.supervised(effect, supervisor),
    terminals: (inbox: Queue.Queue<Decoded>, seen: ReadonlyArray<Decoded>, jobId: string | undefined) =>
      Effect.gen(function*() {
        yield* advanceUntil(settled, 1000)
        const all = [...seen, ...(yield* Queue.takeAll(inbox))]
        return all.filter((m) => m.job_id !== undefined && m.job_id === jobId && terminalTypes.has(m.type)).length
      })
  }
})

const invoke = (tool: string, args: Record<string, unknown> = {}) =>
  makeEnvelope("tool.invoke", { tool, arguments: args }, {
    session_id: SessionId.make("sess_test")
  }) satisfies Effect.Effect<Message<"tool.invoke">>

const cancelOf = (jobId: string, deadline_ms?: number) =>
  makeEnvelope("cancel", {
    target: "job" as const,
    target_id: jobId,
    ...(deadline_ms !== undefined ? { deadline_ms } : {})
  }, {
    session_id: SessionId.make("sess_test")
  }) satisfies Effect.Effect<Message<"cancel">>

const recordOf = (jobId: string | undefined) =>
  Effect.flatMap(EventLog, (log) => log.getJob(jobId ?? "none")).pipe(Effect.map(Option.getOrUndefined))

/** Lets background fibers run until `check` holds (bounded: no clock involved). */
const eventually = (check: Effect.Effect<boolean, unknown, EventLog>) =>
  Effect.gen(function*() {
    for (let i = 0; i < 1000; i++) {
      if (yield* check) return
      yield* Effect.yieldNow()
    }
    assert.fail("condition never held")
  })

describe("Jobs", () => {
  it.scoped("R10.2-1 R9-9 a job released before its fiber ran still ends exactly once: job.accepted, then job.cancelled", () =>
    Effect.gen(function*() {
      const jobs = yield* Jobs.Jobs
      const { inbox, owner, seen, until } = yield* makeOwner
      const watch = yield* makeWatch
      // the close arrives in the same burst as the invoke: nothing yields in between, so the
      // interrupt reaches the job during its acceptance
      yield* watch.run(jobs.invoke(yield* invoke("sleep", { ms: 60_000 }), owner))
      yield* watch.run(jobs.release(owner, "cancel", { reason: "closing" }))
      yield* until((m) => terminalTypes.has(m.type))
      const types = seen.map((m) => m.type)
      assert.strictEqual(types[0], "job.accepted")
      assert.strictEqual(types.at(-1), "job.cancelled")
      assert.deepStrictEqual(seen.at(-1)?.payload, { reason: "closing", source: "client" })
      assert.strictEqual(seen.filter((m) => metricName(m) === "tool.invocations").length, 1)
      const record = yield* recordOf(seen[0]?.job_id)
      assert.deepInclude(record, { state: "cancelled", cancel_reason: "closing" })
      assert.isDefined(record?.terminal)
      // and nothing after it: once the job's fibers have ended, the inbox holds no second terminal
      assert.strictEqual(yield* watch.terminals(inbox, seen, seen[0]?.job_id), 1)
    }).pipe(Effect.provide(services([]))))

  it.scoped("R10.4-2 R10.4-3 a cancel right after job.accepted ends the job with job.cancelled", () =>
    Effect.gen(function*() {
      const jobs = yield* Jobs.Jobs
      const { inbox, owner, seen, until } = yield* makeOwner
      const watch = yield* makeWatch
      yield* watch.run(jobs.invoke(yield* invoke("sleep", { ms: 60_000 }), owner))
      const accepted = yield* until((m) => m.type === "job.accepted")
      yield* watch.run(jobs.cancel(yield* cancelOf(accepted.job_id ?? ""), owner))
      yield* until((m) => terminalTypes.has(m.type))
      const types = seen.map((m) => m.type)
      assert.include(types, "cancel.accepted")
      assert.strictEqual(types.filter((t) => terminalTypes.has(t)).length, 1)
      assert.strictEqual(types.at(-1), "job.cancelled")
      assert.strictEqual(yield* watch.terminals(inbox, seen, accepted.job_id), 1)
    }).pipe(Effect.provide(services([]))))

  it.scoped("R6.3-1 R17.3.1-1 job.accepted, job.started, then tool.invocations: the runtime metric follows the WIRE order", () =>
    Effect.gen(function*() {
      const jobs = yield* Jobs.Jobs
      const { owner, seen, until } = yield* makeOwner
      yield* jobs.invoke(yield* invoke("echo", { a: 1 }), owner)
      yield* until((m) => terminalTypes.has(m.type))
      const order = seen.map((m) => metricName(m) ?? m.type)
      assert.deepStrictEqual(order.slice(0, 3), ["job.accepted", "job.started", "tool.invocations"])
      assert.deepStrictEqual(order.slice(3), ["latency.ms", "latency.ms", "latency.ms", "tool.result"])
    }).pipe(Effect.provide(services([]))))

  it.scoped("a terminal is encoded once: the JSON checked for sending is the one handed to the session, and the record's", () => {
    // a result that counts how often it is turned into JSON
    let encodings = 0
    const counted = { toJSON: () => ({ n: ++encodings }) }
    return Effect.gen(function*() {
      const jobs = yield* Jobs.Jobs
      const { owner, until } = yield* makeOwnerWith(false)
      const handed: Array<string | undefined> = []
      yield* jobs.invoke(yield* invoke("returns"), {
        ...owner,
        // as the outbound path does: what comes without its JSON is encoded here
        sink: (envelope, json) => {
          if (terminalTypes.has(envelope.type)) handed.push(json ?? JSON.stringify(envelope))
          return owner.sink(envelope)
        }
      })
      const terminal = yield* until((m) => terminalTypes.has(m.type))
      assert.strictEqual(encodings, 1)
      assert.deepStrictEqual(handed.map((json) => JSON.parse(json ?? "null").payload.value), [{ n: 1 }])
      const record = yield* eventually(Effect.map(recordOf(terminal.job_id), (r) => r?.terminal !== undefined)).pipe(
        Effect.zipRight(recordOf(terminal.job_id))
      )
      assert.strictEqual(record?.terminal, handed[0])
    }).pipe(Effect.provide(services([returns(counted)])))
  })

  it.scoped("R17.3.1-1 a session that did not ask for the runtime's metrics gets none as events; they are aggregated instead", () =>
    Effect.gen(function*() {
      const jobs = yield* Jobs.Jobs
      const invocations = Metric.tagged(RuntimeMetrics.invocations, "tool", "echo")
      const exec = Metric.tagged(Metric.tagged(RuntimeMetrics.latency, "tool", "echo"), "phase", "exec")
      const before = yield* Metric.value(invocations)
      const execBefore = yield* Metric.value(exec)
      const { owner, seen, until } = yield* makeOwnerWith(false)
      yield* jobs.invoke(yield* invoke("echo", { a: 1 }), owner)
      yield* until((m) => terminalTypes.has(m.type))
      assert.deepStrictEqual(seen.map((m) => m.type), ["job.accepted", "job.started", "tool.result"])
      assert.strictEqual((yield* Metric.value(invocations)).count, before.count + 1)
      assert.strictEqual((yield* Metric.value(exec)).count, execBefore.count + 1)
      // and a session that asked still gets them, from the same runtime
      const asked = yield* makeOwnerWith(true)
      yield* jobs.invoke(yield* invoke("echo", { a: 2 }), asked.owner)
      yield* asked.until((m) => terminalTypes.has(m.type))
      assert.strictEqual(asked.seen.filter((m) => m.type === "metric").length, 4)
      assert.strictEqual((yield* Metric.value(invocations)).count, before.count + 2)
    }).pipe(Effect.provide(services([]))))

  it.scoped("R10.4-7 R17.3.1-1 an abandoned job (ABORTED) reports latency.ms and errors.total before its terminal", () =>
    Effect.gen(function*() {
      const deaf = yield* makeDeaf
      yield* Effect.gen(function*() {
        const jobs = yield* Jobs.Jobs
        const { owner, seen, until } = yield* makeOwner
        yield* jobs.invoke(yield* invoke("deaf"), owner)
        const started = yield* until((m) => m.type === "job.started")
        yield* jobs.cancel(yield* cancelOf(started.job_id ?? "", 300), owner)
        const { moved, value: last } = yield* advanceUntil(until((m) => terminalTypes.has(m.type)), 100)
        assert.isAtLeast(moved, 300)
        assert.strictEqual(last.type, "job.failed")
        assert.strictEqual(Reflect.get(last.payload, "code"), "ABORTED")
        const metrics = seen.filter((m) => m.type === "metric")
        assert.deepStrictEqual(metrics.map(metricName), [
          "tool.invocations",
          "latency.ms",
          "latency.ms",
          "latency.ms",
          "errors.total"
        ])
        assert.deepInclude(Reflect.get(metrics[4]?.payload ?? {}, "dims"), { code: "ABORTED", tool: "deaf" })
        assert.strictEqual((yield* recordOf(last.job_id))?.state, "failed")
      }).pipe(Effect.ensuring(Deferred.succeed(deaf.free, undefined)), Effect.provide(services([deaf.tool])))
    }))

  it.scoped("R10.2-2 R10.2-4 R10.5-1 the job record follows the job: running, blocked, running again, completed; retry_count stays 0", () =>
    Effect.gen(function*() {
      const gated = yield* makeGated
      yield* Effect.gen(function*() {
        const jobs = yield* Jobs.Jobs
        const humanInput = yield* HumanInput.HumanInput
        const { owner, until } = yield* makeOwner
        yield* jobs.invoke(yield* invoke("gated"), owner)
        const started = yield* until((m) => m.type === "job.started")
        const jobId = started.job_id ?? ""
        assert.strictEqual((yield* recordOf(jobId))?.state, "running")
        const interrupt = yield* makeEnvelope("interrupt", { target: "job" as const, target_id: jobId }, {
          session_id: owner.sessionId
        })
        yield* jobs.interrupt(interrupt, owner)
        const request = yield* until((m) => m.type === "human.input.request")
        assert.strictEqual((yield* recordOf(jobId))?.state, "blocked")
        const answer = yield* makeEnvelope("human.input.response", {
          value: { guidance: "go on" },
          responded_by: "alice",
          responded_at: "2026-05-09T13:00:00Z"
        }, {
          session_id: owner.sessionId,
          correlation_id: request.id
        })
        yield* humanInput.respond(answer, "alice")
        yield* eventually(Effect.map(recordOf(jobId), (r) => r?.state === "running"))
        yield* Deferred.succeed(gated.go, undefined)
        yield* until((m) => terminalTypes.has(m.type))
        const record = yield* recordOf(jobId)
        assert.deepInclude(record, { state: "completed", retry_count: 0 })
        assert.isDefined(record?.terminal)
      }).pipe(Effect.provide(services([gated.tool])))
    }))

  it.scoped("R10.4-1 R10.4-7 R9-9 a session's jobs are cancelled together within the given deadline, with its reason", () =>
    Effect.gen(function*() {
      const deaf = yield* makeDeaf
      yield* Effect.gen(function*() {
        const jobs = yield* Jobs.Jobs
        const { owner, seen, until } = yield* makeOwner
        yield* jobs.invoke(yield* invoke("deaf"), owner)
        yield* jobs.invoke(yield* invoke("deaf"), owner)
        yield* jobs.invoke(yield* invoke("sleep", { ms: 60_000 }), owner)
        for (let started = 0; started < 3; started++) yield* until((m) => m.type === "job.started")
        // both deaf jobs share the one 200 ms deadline (one after the other would take 400 ms)
        const { moved } = yield* advanceUntil(
          jobs.release(owner, "cancel", { reason: "user_aborted", deadline_ms: 200 }),
          100
        )
        assert.isAtLeast(moved, 200)
        assert.isBelow(moved, 400)
        yield* Effect.forEach([0, 1, 2], () => until((m) => terminalTypes.has(m.type)), { discard: true })
        const terminals = seen.filter((m) => terminalTypes.has(m.type))
        assert.deepStrictEqual(terminals.map((m) => m.type).sort(), ["job.cancelled", "job.failed", "job.failed"])
        assert.deepStrictEqual(seen.find((m) => m.type === "job.cancelled")?.payload, {
          reason: "user_aborted",
          source: "client"
        })
        for (const t of terminals) assert.strictEqual((yield* recordOf(t.job_id))?.cancel_reason, "user_aborted")
      }).pipe(Effect.ensuring(Deferred.succeed(deaf.free, undefined)), Effect.provide(services([deaf.tool])))
    }))

  it.scoped("R9-9 closing a session detaches a job that cannot be cancelled, tells the closer, and the job completes", () =>
    Effect.gen(function*() {
      const gated = yield* makeGated
      const critical = Tools.make({
        name: "critical",
        parameters: Tools.AnyArguments,
        cancellable: false,
        handler: () => Effect.as(Deferred.await(gated.go), "kept")
      })
      yield* Effect.gen(function*() {
        const jobs = yield* Jobs.Jobs
        const { owner, until } = yield* makeOwner
        yield* jobs.invoke(yield* invoke("critical"), owner)
        const started = yield* until((m) => m.type === "job.started")
        yield* jobs.release(owner, "cancel")
        const warning = yield* until((m) => m.type === "log")
        assert.strictEqual(warning.job_id, started.job_id)
        assert.deepInclude(warning.payload, { level: "warn" })
        yield* Deferred.succeed(gated.go, undefined)
        yield* eventually(Effect.map(recordOf(started.job_id), (r) => r?.state === "completed"))
        assert.include((yield* recordOf(started.job_id))?.terminal ?? "", "\"kept\"")
      }).pipe(Effect.provide(services([critical])))
    }))

  it.scoped("R10.4-8 cancel of an unknown job is refused not_found", () =>
    Effect.gen(function*() {
      const jobs = yield* Jobs.Jobs
      const { owner, until } = yield* makeOwner
      yield* jobs.cancel(yield* cancelOf(JobId.make("job_missing")), owner)
      const refused = yield* until((m) => m.type === "cancel.refused")
      assert.strictEqual(Reflect.get(refused.payload, "reason"), "not_found")
    }).pipe(Effect.provide(services([]))))

  it.scoped("R18.2-1 a tool failing inside Effect.all with concurrency (a Parallel cause) ends with its own error, not INTERNAL", () =>
    Effect.gen(function*() {
      const jobs = yield* Jobs.Jobs
      const { owner, seen, until } = yield* makeOwner
      yield* jobs.invoke(yield* invoke("parallel"), owner)
      const terminal = yield* until((m) => terminalTypes.has(m.type))
      assert.strictEqual(terminal.type, "tool.error")
      assert.deepInclude(terminal.payload, { code: "NOT_FOUND", message: "branch b found nothing" })
      assert.deepInclude(
        seen.filter((m) => metricName(m) === "errors.total").map((m) => Reflect.get(m.payload, "dims")),
        {
          code: "NOT_FOUND",
          tool: "parallel"
        }
      )
    }).pipe(Effect.provide(services([parallel]))))

  describe("R10.2-1 a result that cannot be sent ends the job once: tool.error INTERNAL with the reason, recorded", () => {
    for (const [name, value] of unencodable) {
      it.scoped(name, () =>
        Effect.gen(function*() {
          const jobs = yield* Jobs.Jobs
          const { inbox, owner, seen, until } = yield* makeOwner
          const watch = yield* makeWatch
          yield* watch.run(jobs.invoke(yield* invoke("returns", { which: name }), owner))
          const terminal = yield* until((m) => terminalTypes.has(m.type))
          assert.strictEqual(terminal.type, "tool.error")
          assert.strictEqual(Reflect.get(terminal.payload, "code"), "INTERNAL")
          assert.include(String(Reflect.get(terminal.payload, "message")), "cannot be sent")
          assert.strictEqual(terminal.correlation_id, seen[0]?.correlation_id)
          assert.deepInclude(
            seen.filter((m) => metricName(m) === "errors.total").map((m) => Reflect.get(m.payload, "dims")),
            {
              code: "INTERNAL",
              tool: "returns"
            }
          )
          const record = yield* recordOf(terminal.job_id)
          assert.strictEqual(record?.state, "failed")
          assert.include(record?.terminal ?? "", "INTERNAL")
          assert.strictEqual(yield* watch.terminals(inbox, seen, terminal.job_id), 1)
        }).pipe(Effect.provide(services([returns(value)]))))
    }
  })
})
