import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, type FiberId } from "effect"
import { EventLogError } from "../../src/store/EventLog.js"
import * as GroupCommit from "../../src/store/internal/GroupCommit.js"
import type { Write, WriteResult } from "../../src/store/internal/SqliteWriter.js"
import { envelope, job, session } from "./EventLogSuite.js"

/** A backend that records each commit's writes (by tag and id) and answers positions for outbound writes. */
const recording = () => {
  const commits: Array<ReadonlyArray<string>> = []
  const commit = (writes: ReadonlyArray<Write>) =>
    Effect.sync(() => {
      commits.push(writes.map((w) => w._tag === "SaveJob" ? `job:${w.job.state}` : w._tag))
      return writes.map((w): WriteResult => (w._tag === "Outbound" ? w.envelopes.map((_, i) => i + 1) : undefined))
    })
  return { commits, commit }
}

describe("GroupCommit", () => {
  it.scopedLive("inline (SQLite): staged records ride in the commit of the next awaited write, in order", () =>
    Effect.gen(function*() {
      const { commit, commits } = recording()
      const writes = yield* GroupCommit.make(commit, "test", { inline: true })
      yield* writes.stageJob(job("job_1", { state: "accepted" }))
      yield* writes.stageJob(job("job_1", { state: "running" }))
      // other fibers run meanwhile (the writer among them): the staged records still wait for a turn
      for (let i = 0; i < 5; i++) yield* Effect.yieldNow()
      const positions = yield* writes.recordOutbound([envelope("e1"), envelope("e2")])
      assert.deepStrictEqual(positions, [1, 2])
      assert.deepStrictEqual(commits, [["job:accepted", "job:running", "Outbound"]])
    }))

  it.scoped("inline (SQLite): an awaited write commits on its caller's own fiber (no hop to the writer)", () =>
    Effect.gen(function*() {
      const committedOn: Array<FiberId.FiberId> = []
      const writes = yield* GroupCommit.make(
        (group) =>
          Effect.map(Effect.fiberId, (id) => {
            committedOn.push(id)
            return group.map((): WriteResult => [{ _tag: "New" }])
          }),
        "test",
        { inline: true }
      )
      const caller = yield* Effect.fiberId
      const verdicts = yield* writes.recordInbound("alice", [envelope("in1")])
      assert.deepStrictEqual(verdicts, [{ _tag: "New" }])
      assert.deepStrictEqual(committedOn, [caller])
    }))

  it.scopedLive("inline (SQLite): a staged record nothing follows is committed by the writer after a turn", () =>
    Effect.gen(function*() {
      const { commit, commits } = recording()
      const writes = yield* GroupCommit.make(commit, "test", { inline: true })
      yield* writes.stageJob(job("job_2", { state: "completed" }))
      while (commits.length === 0) yield* Effect.sleep("1 millis")
      assert.deepStrictEqual(commits, [["job:completed"]])
    }))

  it.scopedLive("R6.4-2 staged inbound (SQLite): verdicts at once, the write in the commit of the next awaited write", () =>
    Effect.gen(function*() {
      const commits: Array<ReadonlyArray<string>> = []
      const commit = (writes: ReadonlyArray<Write>) =>
        Effect.sync(() => {
          commits.push(
            writes.map((w) => w._tag === "Inbound" ? `in:${w.envelopes.map((e) => e.id).join(",")}` : w._tag)
          )
          return writes.map((w): WriteResult =>
            w._tag === "Outbound"
              ? w.envelopes.map((_, i) => i + 1)
              : w._tag === "Inbound"
              ? w.envelopes.map(() => ({ _tag: "New" }) as const)
              : undefined
          )
        })
      // the log already holds "old" of alice's
      const writes = yield* GroupCommit.make(commit, "test", {
        inline: true,
        seen: (principal, id) => principal === "alice" && id === "old"
      })
      const stageInbound = writes.stageInbound
      if (stageInbound === undefined) return assert.fail("an inline log with `seen` stages inbound writes")
      const verdicts = yield* stageInbound("alice", [envelope("m1"), envelope("old"), envelope("m1")])
      // a repeat within the batch and an id the log holds are duplicates; nothing is committed yet
      assert.deepStrictEqual(verdicts.map((v) => v._tag), ["New", "Duplicate", "Duplicate"])
      assert.deepStrictEqual(commits, [])
      // staged and not yet committed, a retransmit is a duplicate too; another principal's id is its own
      assert.deepStrictEqual((yield* stageInbound("alice", [envelope("m1")])).map((v) => v._tag), ["Duplicate"])
      assert.deepStrictEqual((yield* stageInbound("bob", [envelope("m1")])).map((v) => v._tag), ["New"])
      // the answer's commit takes the staged messages along, ahead of it: the message is durable before its answer
      yield* writes.recordOutbound([envelope("answer")])
      assert.deepStrictEqual(commits, [["in:m1", "in:m1", "Outbound"]])
    }))

  it.scopedLive("R6.4-2 staged inbound (SQLite): a message nothing answers is committed after a turn", () =>
    Effect.gen(function*() {
      const { commit, commits } = recording()
      const writes = yield* GroupCommit.make(commit, "test", { inline: true, seen: () => false })
      yield* Effect.orDie(writes.stageInbound?.("alice", [envelope("quiet")]) ?? Effect.void)
      while (commits.length === 0) yield* Effect.sleep("1 millis")
      assert.deepStrictEqual(commits, [["Inbound"]])
    }))

  it.scoped("R6.4-2 staged inbound (SQLite): a failed commit records nothing, so a retransmit is new again", () =>
    Effect.gen(function*() {
      let failing = true
      const writes = yield* GroupCommit.make(
        (group) =>
          failing
            ? Effect.fail(new EventLogError({ reason: "Write", message: "disk full" }))
            : Effect.succeed(group.map((w): WriteResult => (w._tag === "Outbound" ? [1] : undefined))),
        "test",
        { inline: true, seen: () => false }
      )
      const stage = (id: string) => Effect.orDie(writes.stageInbound?.("alice", [envelope(id)]) ?? Effect.succeed([]))
      assert.deepStrictEqual((yield* stage("m2")).map((v) => v._tag), ["New"])
      // the answer's commit fails: neither the message nor its answer is recorded
      const failed = yield* Effect.either(writes.recordOutbound([envelope("answer")]))
      assert.isTrue(failed._tag === "Left")
      failing = false
      assert.deepStrictEqual((yield* stage("m2")).map((v) => v._tag), ["New"])
    }))

  it.scoped("inline (SQLite): what is still staged when the log closes is committed then", () =>
    Effect.gen(function*() {
      const { commit, commits } = recording()
      yield* Effect.scoped(Effect.gen(function*() {
        const writes = yield* GroupCommit.make(commit, "test", { inline: true })
        yield* writes.stageJob(job("job_3", { state: "failed" }))
      }))
      assert.deepStrictEqual(commits, [["job:failed"]])
    }))

  it.scopedLive("queued (PostgreSQL): writes waiting while a commit runs go together in the next one, in order", () =>
    Effect.gen(function*() {
      const commits: Array<ReadonlyArray<string>> = []
      const started = yield* Deferred.make<void>()
      const gate = yield* Deferred.make<void>()
      const commit = (writes: ReadonlyArray<Write>) =>
        Effect.gen(function*() {
          // the first commit waits for the gate, so the next writes queue behind it
          if (commits.length === 0) {
            yield* Deferred.succeed(started, undefined)
            yield* Deferred.await(gate)
          }
          commits.push(writes.map((w) => w._tag === "SaveJob" ? `job:${w.job.state}` : w._tag))
          return writes.map((): WriteResult => undefined)
        })
      const writes = yield* GroupCommit.make(commit, "test")
      const first = yield* Effect.fork(writes.saveJob(job("job_a", { state: "accepted" })))
      yield* Deferred.await(started)
      yield* writes.stageJob(job("job_b", { state: "running" }))
      const second = yield* Effect.fork(writes.saveJob(job("job_c", { state: "completed" })))
      yield* Effect.sleep("5 millis")
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(first)
      yield* Fiber.join(second)
      assert.deepStrictEqual(commits, [["job:accepted"], ["job:running", "job:completed"]])
    }))

  it.scopedLive("a mixed group commits whole, with the staged writes ahead of it, and gets its own verdicts and positions", () =>
    Effect.gen(function*() {
      const commits: Array<ReadonlyArray<string>> = []
      const commit = (writes: ReadonlyArray<Write>) =>
        Effect.sync(() => {
          commits.push(writes.map((w) => w._tag === "SaveJob" ? `job:${w.job.state}` : w._tag))
          return writes.map((w): WriteResult =>
            w._tag === "Outbound"
              ? w.envelopes.map((_, i) => 10 + i)
              : w._tag === "Inbound"
              ? w.envelopes.map(() => ({ _tag: "New" }) as const)
              : undefined
          )
        })
      for (const inline of [true, false]) {
        commits.length = 0
        const writes = yield* GroupCommit.make(commit, "test", { inline })
        yield* writes.stageJob(job("job_g", { state: "accepted" }))
        const recorded = yield* writes.recordGroup([
          { _tag: "Inbound", principal: "alice", envelopes: [envelope("in1")] },
          { _tag: "SaveSession", session: session("sess_1") },
          { _tag: "Outbound", envelopes: [envelope("out1"), envelope("out2")] },
          { _tag: "ReleaseSession", session: session("sess_1", { state: "closed" }) }
        ])
        assert.deepStrictEqual(recorded, { verdicts: [{ _tag: "New" }], positions: [10, 11] })
        assert.deepStrictEqual(commits, [["job:accepted", "Inbound", "SaveSession", "Outbound", "ReleaseSession"]])
      }
    }))
})
