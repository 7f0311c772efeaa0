/**
 * Retries (RFC §10.1, §10.2, §18.3) on the Jobs service (memory log, TestClock): a tool's retry
 * policy re-runs its handler under the same job id with backoff, counts and persists retry_count,
 * shows each retry to watchers as a log event, honours retry_after_seconds as a floor, and a
 * cancel during the backoff cancels the job.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Ref, TestClock } from "effect"
import { make as makeEnvelope } from "../../../src/protocol/Envelope.js"
import { ArcpError } from "../../../src/protocol/Errors.js"
import { SessionId } from "../../../src/protocol/Ids.js"
import type { Decoded, Message } from "../../../src/protocol/Message.js"
import * as Jobs from "../../../src/runtime/jobs/Jobs.js"
import * as Tools from "../../../src/runtime/Tools.js"
import { EventLog } from "../../../src/store/EventLog.js"
import { advanceUntil, jobsServices, queueSession } from "../../support/Harness.js"

const SESSION = SessionId.make("sess_retry")
const terminalTypes = new Set(["tool.result", "tool.error", "job.failed", "job.cancelled"])
const field = (m: Decoded, key: string): unknown => Reflect.get(m.payload, key)

const services = jobsServices

/** A session as Jobs sees it: its messages in a queue, with a reader that keeps what it took. */
const makeOwner = queueSession(SESSION)

const invoke = (tool: string, args: Record<string, unknown>) =>
  makeEnvelope("tool.invoke", { tool, arguments: args }, { session_id: SESSION }) satisfies Effect.Effect<
    Message<"tool.invoke">
  >

const retryLogs = (seen: ReadonlyArray<Decoded>) =>
  seen.filter((m) => m.type === "log" && Reflect.get(Object(field(m, "attributes")), "reason") === "retry")

/** A tool whose every attempt fails with `error`, counting its attempts. */
const makeFailing = (error: ArcpError, retry: Tools.RetryPolicy) =>
  Effect.map(Ref.make(0), (attempts) => ({
    attempts,
    tool: Tools.make({
      name: "failing",
      parameters: Tools.AnyArguments,
      retry,
      handler: () => Effect.zipRight(Ref.update(attempts, (n) => n + 1), Effect.fail(error))
    })
  }))

describe("retries", { timeout: 30_000 }, () => {
  it.scoped("R10.1-1 R10.2-4 flaky {fail_times: 2} is retried with backoff under one job id: tool.result {attempts: 3}, retry_count 2 persisted, each retry a log event", () =>
    Effect.gen(function*() {
      const jobs = yield* Jobs.Jobs
      const { owner, seen, until } = yield* makeOwner
      yield* jobs.invoke(yield* invoke("flaky", { fail_times: 2 }), owner)
      const { moved, value: terminal } = yield* advanceUntil(until((m) => terminalTypes.has(m.type)), 50)
      assert.strictEqual(terminal.type, "tool.result")
      assert.deepStrictEqual(field(terminal, "value"), { attempts: 3 })
      // backoff 100 ms, then 200 ms: the result cannot come before 300 ms have passed
      assert.isAtLeast(moved, 300)
      const logs = retryLogs(seen)
      assert.deepStrictEqual(
        logs.map((m) => {
          const a = Object(field(m, "attributes"))
          return [field(m, "level"), Reflect.get(a, "code"), Reflect.get(a, "retry_count"), Reflect.get(a, "delay_ms")]
        }),
        [["warn", "UNAVAILABLE", 1, 100], ["warn", "UNAVAILABLE", 2, 200]]
      )
      // one job: one job.accepted, one job.started, every event under the same job id
      assert.strictEqual(seen.filter((m) => m.type === "job.accepted").length, 1)
      assert.strictEqual(seen.filter((m) => m.type === "job.started").length, 1)
      assert.isTrue(seen.every((m) => m.job_id === terminal.job_id))
      const record = yield* Effect.flatMap(EventLog, (log) => log.getJob(terminal.job_id ?? ""))
      assert.deepStrictEqual(Option.map(record, (r) => [r.state, r.retry_count]), Option.some(["completed", 2]))
    }).pipe(Effect.provide(services([]))))

  it.scoped("R10.1-1 attempts are bounded: flaky that never recovers ends tool.error after 5 attempts, retry_count 4", () =>
    Effect.gen(function*() {
      const jobs = yield* Jobs.Jobs
      const { owner, seen, until } = yield* makeOwner
      yield* jobs.invoke(yield* invoke("flaky", { fail_times: 50, code: "RESOURCE_EXHAUSTED" }), owner)
      const { value: terminal } = yield* advanceUntil(until((m) => terminalTypes.has(m.type)), 100)
      assert.deepStrictEqual([terminal.type, field(terminal, "code")], ["tool.error", "RESOURCE_EXHAUSTED"])
      assert.strictEqual(retryLogs(seen).length, 4)
      const record = yield* Effect.flatMap(EventLog, (log) => log.getJob(terminal.job_id ?? ""))
      assert.deepStrictEqual(Option.map(record, (r) => r.retry_count), Option.some(4))
    }).pipe(Effect.provide(services([]))))

  it.scoped("R18.3-1 a code that is not retryable (INVALID_ARGUMENT) is not retried", () =>
    Effect.gen(function*() {
      const jobs = yield* Jobs.Jobs
      const { owner, seen, until } = yield* makeOwner
      yield* jobs.invoke(yield* invoke("flaky", { fail_times: 2, code: "INVALID_ARGUMENT" }), owner)
      const terminal = yield* until((m) => terminalTypes.has(m.type))
      assert.deepStrictEqual([terminal.type, field(terminal, "code")], ["tool.error", "INVALID_ARGUMENT"])
      assert.strictEqual(retryLogs(seen).length, 0)
      const record = yield* Effect.flatMap(EventLog, (log) => log.getJob(terminal.job_id ?? ""))
      assert.deepStrictEqual(Option.map(record, (r) => r.retry_count), Option.some(0))
    }).pipe(Effect.provide(services([]))))

  it.scoped("R18.3-2 details.retry_after_seconds is a floor for the next attempt's delay", () =>
    Effect.gen(function*() {
      const error = ArcpError.of("RESOURCE_EXHAUSTED", "slow down", { details: { retry_after_seconds: 5 } })
      const failing = yield* makeFailing(error, { attempts: 2, backoff: { initial: "100 millis" } })
      yield* Effect.gen(function*() {
        const jobs = yield* Jobs.Jobs
        const { owner, seen, until } = yield* makeOwner
        yield* jobs.invoke(yield* invoke("failing", {}), owner)
        yield* until((m) => m.type === "log")
        const [first] = retryLogs(seen)
        assert.strictEqual(
          first === undefined ? undefined : Reflect.get(Object(field(first, "attributes")), "delay_ms"),
          5000
        )
        yield* TestClock.adjust("4900 millis")
        for (let i = 0; i < 20; i++) yield* Effect.yieldNow()
        assert.strictEqual(yield* Ref.get(failing.attempts), 1, "not retried before the floor")
        yield* TestClock.adjust("100 millis")
        const terminal = yield* until((m) => terminalTypes.has(m.type))
        assert.strictEqual(yield* Ref.get(failing.attempts), 2)
        assert.strictEqual(terminal.type, "tool.error")
      }).pipe(Effect.provide(services([failing.tool])))
    }))

  it.scoped("R10.4-2 R10.1-1 a cancel during the backoff cancels the job: job.cancelled, no further attempt", () =>
    Effect.gen(function*() {
      const failing = yield* makeFailing(ArcpError.of("UNAVAILABLE", "down"), {
        attempts: 5,
        backoff: { initial: "10 seconds" }
      })
      yield* Effect.gen(function*() {
        const jobs = yield* Jobs.Jobs
        const { owner, until } = yield* makeOwner
        yield* jobs.invoke(yield* invoke("failing", {}), owner)
        const log = yield* until((m) => m.type === "log")
        const cancel = yield* makeEnvelope("cancel", { target: "job" as const, target_id: log.job_id ?? "" }, {
          session_id: SESSION
        })
        yield* jobs.cancel(cancel, owner)
        yield* until((m) => m.type === "cancel.accepted")
        const terminal = yield* until((m) => terminalTypes.has(m.type))
        assert.strictEqual(terminal.type, "job.cancelled")
        yield* TestClock.adjust("60 seconds")
        for (let i = 0; i < 20; i++) yield* Effect.yieldNow()
        assert.strictEqual(yield* Ref.get(failing.attempts), 1)
        const record = yield* Effect.flatMap(EventLog, (l) => l.getJob(terminal.job_id ?? ""))
        assert.deepStrictEqual(Option.map(record, (r) => r.state), Option.some("cancelled"))
      }).pipe(Effect.provide(services([failing.tool])))
    }))
})
