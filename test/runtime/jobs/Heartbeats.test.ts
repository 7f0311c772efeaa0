/**
 * The runtime's one heartbeat scheduler (internal/Heartbeats) on its own,
 * under TestClock: each registration ticks at its own interval anchored at
 * its first deadline, an earlier deadline wakes the worker early, and a job
 * that unregisters or answers `false` stops ticking. Ties go to whichever
 * was (re)scheduled first. Short jobs (gone before their first deadline) share
 * one sleeping worker rather than starting one each.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import * as Heartbeats from "../../../src/runtime/internal/Heartbeats.js"
import { ForkCounter } from "../../support/ForkCounter.js"

/** Advances the clock one second at a time, letting the worker run after each step. */
const advance = (seconds: number) =>
  Effect.gen(function*() {
    for (let i = 0; i < seconds; i++) {
      yield* TestClock.adjust("1 second")
      yield* Effect.yieldNow()
    }
  })

describe("heartbeat scheduler", () => {
  it.scoped("one scheduler ticks each job at its own interval from its start, earlier deadlines first", () =>
    Effect.gen(function*() {
      const scheduler = yield* Heartbeats.make
      const ticks: Array<string> = []
      const record = (name: string) => (now: number) =>
        Effect.sync(() => ticks.push(`${name}@${now}`)).pipe(Effect.as(true))
      const slow = {}
      const fast = {}
      yield* scheduler.register(slow, 10_000, 10_000, record("slow"))
      yield* advance(2)
      // registered while the worker sleeps until 10 s: its first deadline (5 s) is earlier
      yield* scheduler.register(fast, 5_000, 3_000, record("fast"))
      yield* advance(19)
      assert.deepStrictEqual(ticks, [
        "fast@5000",
        "fast@8000",
        "slow@10000",
        "fast@11000",
        "fast@14000",
        "fast@17000",
        "slow@20000",
        "fast@20000"
      ])
    }))

  it.scoped("a job stops ticking when it unregisters or its tick answers false; an idle scheduler starts again", () =>
    Effect.gen(function*() {
      const scheduler = yield* Heartbeats.make
      const ticks: Array<string> = []
      const a = {}
      const b = {}
      yield* scheduler.register(
        a,
        1_000,
        1_000,
        (now) => Effect.sync(() => ticks.push(`a@${now}`)).pipe(Effect.as(now < 3_000))
      )
      yield* scheduler.register(
        b,
        2_000,
        2_000,
        (now) => Effect.sync(() => ticks.push(`b@${now}`)).pipe(Effect.as(true))
      )
      yield* advance(4)
      yield* scheduler.unregister(b)
      yield* advance(6)
      assert.deepStrictEqual(ticks, ["a@1000", "b@2000", "a@2000", "a@3000", "b@4000"])
      // nothing registered: the worker has ended; a new registration starts one
      yield* scheduler.register(
        a,
        12_000,
        1_000,
        (now) => Effect.sync(() => ticks.push(`a@${now}`)).pipe(Effect.as(false))
      )
      yield* advance(3)
      assert.deepStrictEqual(ticks.slice(5), ["a@12000"])
    }))

  it.scoped("jobs that end before their first deadline share one sleeping worker: no fiber per job", () =>
    Effect.gen(function*() {
      const scheduler = yield* Heartbeats.make
      const fibers = new ForkCounter()
      const ticks: Array<string> = []
      const tick = (name: string) => (now: number) =>
        Effect.sync(() => ticks.push(`${name}@${now}`)).pipe(Effect.as(true))
      const shortJob = (i: number) =>
        Effect.gen(function*() {
          const job = {}
          yield* scheduler.register(job, 30_000 + i, 30_000, tick(`job${i}`))
          yield* scheduler.unregister(job)
          // the worker runs between jobs
          yield* Effect.yieldNow()
        }).pipe(Effect.supervised(fibers))
      // short jobs one after another (one in flight), each gone before the worker first runs: the first starts the worker (and TestClock its
      // warning fiber), the next ninety-nine start none
      yield* shortJob(0)
      const afterFirst = fibers.started
      for (let i = 1; i < 100; i++) yield* shortJob(i)
      assert.isAbove(afterFirst, 0)
      assert.strictEqual(fibers.started, afterFirst)
      // the worker still serves a job that lives to its deadline
      const long = {}
      yield* scheduler.register(long, 31_000, 1_000, tick("long"))
      yield* advance(32)
      assert.deepStrictEqual(ticks, ["long@31000", "long@32000"])
    }))
})
