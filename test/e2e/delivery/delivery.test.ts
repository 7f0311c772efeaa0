/**
 * Delivery over a real WebSocket with the SQLite event log (RFC §6.4, §6.5,
 * §9, §10.4): retransmits inside one burst and from other connections,
 * stopping jobs in the middle of their acceptance, session cancel, priority
 * lanes, and idempotency across a real process restart of `arcp serve`.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, type Layer, Option, Ref, Schedule, type Scope, Stream, TestClock } from "effect"
import type { ChildProcess } from "node:child_process"
import { join } from "node:path"
import * as Client from "../../../src/client/Client.js"
import { connect as connectPromise } from "../../../src/client/promise/Promise.js"
import { make as makeEnvelope } from "../../../src/protocol/Envelope.js"
import { type Decoded, encodeUnchecked } from "../../../src/protocol/Message.js"
import * as Tools from "../../../src/runtime/Tools.js"
import { EventLog } from "../../../src/store/EventLog.js"
import * as SqliteEventLog from "../../../src/store/SqliteEventLog.js"
import { serveWs } from "../../support/Child.js"
import {
  collectUntil,
  dial,
  field,
  makeCounter,
  memory,
  open,
  serverLayer,
  terminalsUntilQuiet,
  TOKEN,
  webSocket
} from "../../support/Harness.js"
import { tempDir, withTempDir } from "../../support/TempDir.js"

const terminal = (m: Decoded) => Client.terminalTypes.has(m.type)

/** Runs `body` against a WebSocket server on a fresh SQLite file. */
const withServer = <A, E>(
  body: Effect.Effect<A, E, Scope.Scope | Layer.Layer.Success<ReturnType<typeof serverLayer>>>,
  tools: ReadonlyArray<Tools.Tool> = []
) =>
  Effect.gen(function*() {
    const dir = yield* tempDir("arcp-delivery-")
    const eventLog = SqliteEventLog.layer({ filename: join(dir, "events.db") })
    return yield* body.pipe(Effect.provide(serverLayer({ transport: webSocket, eventLog, tools })))
  })

/** A raw connection with an open session: frames are sent exactly as given. */
const rawSession = Effect.gen(function*() {
  const connection = yield* dial
  const session = yield* Client.connect(connection, { credentials: { scheme: "bearer", token: TOKEN } })
  const messages = yield* session.messages
  return {
    connection,
    session,
    messages,
    sendRaw: (envelope: Decoded) => connection.send(encodeUnchecked({ ...envelope, session_id: session.id }))
  }
})

/** The envelopes of one job, once per id (replays repeat ids), in arrival order. */
const ofJob = (ms: ReadonlyArray<Decoded>, jobId: string | undefined) => {
  const ids = new Set<string>()
  const out: Array<Decoded> = []
  for (const m of ms) {
    if (m.job_id !== jobId || ids.has(m.id)) continue
    ids.add(m.id)
    out.push(m)
  }
  return out
}

const recordOf = (jobId: string) =>
  Effect.flatMap(EventLog, (log) => log.getJob(jobId)).pipe(
    Effect.filterOrFail((r) => Option.isSome(r) && r.value.terminal !== undefined),
    Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 250 }),
    Effect.map(Option.getOrUndefined)
  )

describe("retransmits", () => {
  it.scopedLive("R6.4-2 R6.1.1-2 one tool.invoke sent twice back-to-back runs one job", () =>
    Effect.gen(function*() {
      const counter = yield* makeCounter
      yield* withServer(
        Effect.gen(function*() {
          const { messages, sendRaw, session } = yield* rawSession
          const invoke = yield* makeEnvelope("tool.invoke", { tool: "count", arguments: {} })
          yield* sendRaw(invoke)
          yield* sendRaw(invoke)
          const seen = yield* collectUntil(messages, terminal)
          yield* session.ping // both copies have been handled by now
          assert.strictEqual(yield* Ref.get(counter.count), 1)
          assert.strictEqual(new Set(seen.filter((m) => m.type === "job.accepted").map((m) => m.job_id)).size, 1)
        }),
        [counter.tool]
      )
    }))

  it.scopedLive("R6.4-2 R10.4-3 a retransmitted invoke of a cancelled job replays all its events, job.cancelled included", () =>
    withServer(Effect.gen(function*() {
      const { messages, sendRaw, session } = yield* rawSession
      const invoke = yield* makeEnvelope("tool.invoke", { tool: "sleep", arguments: { ms: 60_000 } })
      yield* sendRaw(invoke)
      const upToStart = yield* collectUntil(messages, (m) => m.type === "job.started")
      const started = upToStart.at(-1)
      yield* session.request("cancel", { target: "job", target_id: started?.job_id ?? "" })
      const first = yield* collectUntil(messages, terminal)
      yield* sendRaw(invoke)
      const replayed = yield* collectUntil(messages, terminal)
      assert.strictEqual(first.at(-1)?.type, "job.cancelled")
      // the very envelopes (same ids) of the job: acceptance, start, metrics and its terminal
      const replayedIds = ofJob(replayed, started?.job_id).map((m) => m.id)
      assert.includeMembers(replayedIds, [started?.id ?? "", first.at(-1)?.id ?? ""])
      assert.strictEqual(replayed.at(-1)?.id, first.at(-1)?.id)
      assert.strictEqual(ofJob(replayed, started?.job_id)[0]?.type, "job.accepted")
      // all of them, in order: every envelope of the job the first delivery carried (its cancel.accepted too)
      assert.deepStrictEqual(replayedIds, ofJob([...upToStart, ...first], started?.job_id).map((m) => m.id))
    })))

  it.scopedLive("R6.4-2 R6.4-1 a retransmit from another connection while the job runs gets its events so far, then the rest", () =>
    withServer(Effect.gen(function*() {
      const a = yield* rawSession
      const invoke = yield* makeEnvelope("tool.invoke", { tool: "ticker", arguments: { count: 8, interval_ms: 40 } })
      yield* a.sendRaw(invoke)
      const firstProgress = (yield* collectUntil(a.messages, (m) => m.type === "job.progress")).at(-1)
      const b = yield* rawSession
      yield* b.sendRaw(invoke)
      const onB = ofJob(yield* collectUntil(b.messages, terminal), firstProgress?.job_id)
      assert.strictEqual(onB[0]?.type, "job.accepted")
      assert.deepStrictEqual(onB.filter((m) => m.type === "job.progress").map((m) => field(m, "current")), [
        1,
        2,
        3,
        4,
        5,
        6,
        7,
        8
      ])
      assert.deepStrictEqual(onB.filter(terminal).map((m) => m.type), ["tool.result"])
      assert.isTrue(onB.every((m) => m.session_id === b.session.id))
    })))
})

describe("jobs stopped during acceptance", () => {
  it.scopedLive("R10.2-1 R9-9 tool.invoke and session.close in one burst: job.accepted, job.cancelled, then the ack", () =>
    withServer(Effect.gen(function*() {
      const { messages, sendRaw } = yield* rawSession
      const invoke = yield* makeEnvelope("tool.invoke", { tool: "sleep", arguments: { ms: 60_000 } })
      const close = yield* makeEnvelope("session.close", {})
      yield* sendRaw(invoke)
      yield* sendRaw(close)
      const seen = yield* collectUntil(messages, (m) => m.type === "ack" && m.correlation_id === close.id)
      const types = seen.map((m) => m.type)
      assert.strictEqual(types[0], "job.accepted")
      assert.deepStrictEqual(types.filter((t) => Client.terminalTypes.has(t)), ["job.cancelled"])
      assert.isBelow(types.indexOf("job.cancelled"), types.indexOf("ack"))
      assert.deepInclude(yield* recordOf(seen[0]?.job_id ?? ""), { state: "cancelled" })
    })))

  it.scopedLive("R10.4-2 R10.4-3 a cancel sent the moment job.accepted arrives gets cancel.accepted and one job.cancelled", () =>
    withServer(Effect.gen(function*() {
      const { messages, sendRaw, session } = yield* rawSession
      yield* sendRaw(yield* makeEnvelope("tool.invoke", { tool: "sleep", arguments: { ms: 60_000 } }))
      const upToAccepted = yield* collectUntil(messages, (m) => m.type === "job.accepted")
      const accepted = upToAccepted.at(-1)
      yield* sendRaw(yield* makeEnvelope("cancel", { target: "job" as const, target_id: accepted?.job_id ?? "" }))
      const seen = yield* collectUntil(messages, terminal)
      assert.include(seen.map((m) => m.type), "cancel.accepted")
      assert.deepStrictEqual(seen.filter(terminal).map((m) => m.type), ["job.cancelled"])
      // and no other terminal after it, up to a later ping's pong
      assert.deepStrictEqual(
        yield* terminalsUntilQuiet(session, messages, [accepted?.job_id], [...upToAccepted, ...seen]),
        [1]
      )
    })))
})

describe("session cancel", () => {
  const server = serverLayer({ transport: memory })

  it.scoped("R10.4-5 R10.4-1 R10.4-7 cancel of the session: each job ends (job.cancelled, or ABORTED after deadline_ms), then session.evicted", () =>
    Effect.gen(function*() {
      // "deaf" ignores cancellation until the test lets it go (an abandoned fiber must not outlive the test)
      const free = yield* Deferred.make<void>()
      const deaf = Tools.make({
        name: "deaf",
        parameters: Tools.AnyArguments,
        handler: () => Effect.uninterruptible(Deferred.await(free))
      })
      yield* Effect.gen(function*() {
        const session = yield* open()
        const messages = yield* session.messages
        const sleeper = yield* session.invoke("sleep", { ms: 600_000 })
        const stubborn = yield* Effect.forEach([0, 1], () => session.invoke("deaf", {}))
        yield* Effect.forEach(
          [sleeper, ...stubborn],
          (j) => j.events.pipe(Stream.filter((m) => m.type === "job.started"), Stream.runHead)
        )
        const seen: Array<Decoded> = []
        const collecting = yield* messages.pipe(
          Stream.tap((m) => Effect.sync(() => seen.push(m))),
          Stream.takeUntil((m) => m.type === "session.evicted"),
          Stream.runDrain,
          Effect.fork
        )
        yield* session.send("cancel", {
          target: "session",
          target_id: session.id,
          reason: "shutting down",
          deadline_ms: 200
        })
        // time passes in small steps until the eviction: it must come right after the one 200 ms deadline
        let moved = 0
        while (!seen.some((m) => m.type === "session.evicted") && moved < 60_000) {
          for (let i = 0; i < 20; i++) yield* Effect.yieldNow()
          yield* TestClock.adjust("50 millis")
          moved += 50
        }
        yield* collecting.await
        assert.isAtMost(moved, 400)
        const types = seen.map((m) => m.type)
        const evicted = types.indexOf("session.evicted")
        const accepted = types.indexOf("cancel.accepted")
        assert.isAtLeast(accepted, 0, "cancel.accepted was sent")
        const ends = seen.filter(terminal)
        assert.deepStrictEqual(
          ends.map((m) => m.job_id).sort(),
          [sleeper.jobId, ...stubborn.map((j) => j.jobId)].sort()
        )
        assert.isTrue(
          ends.every((m) => accepted < seen.indexOf(m) && seen.indexOf(m) < evicted),
          "cancel.accepted, every terminal, then session.evicted"
        )
        assert.deepStrictEqual(ends.find((m) => m.job_id === sleeper.jobId)?.payload, {
          reason: "shutting down",
          source: "client"
        })
        assert.deepStrictEqual(seen[evicted]?.payload, {
          reason: "cancelled",
          message: "shutting down",
          allow_resume: false
        })
        assert.deepStrictEqual(ends.filter((m) => m.job_id !== sleeper.jobId).map((m) => [m.type, field(m, "code")]), [[
          "job.failed",
          "ABORTED"
        ], ["job.failed", "ABORTED"]])
      }).pipe(
        Effect.ensuring(Deferred.succeed(free, undefined)),
        Effect.provide(serverLayer({ transport: memory, tools: [deaf] }))
      )
    }))

  it.scoped("R10.4-8 cancel of another session id is refused not_found", () =>
    Effect.gen(function*() {
      const session = yield* open()
      const answer = yield* session.request("cancel", { target: "session", target_id: "sess_someone_else" })
      assert.strictEqual(answer.type, "cancel.refused")
      assert.deepStrictEqual(answer.payload, { target: "session", target_id: "sess_someone_else", reason: "not_found" })
    }).pipe(Effect.provide(server)))
})

describe("priority", () => {
  it.scopedLive(
    "R6.5-2 R6.5-4 a high-priority job overtakes a low-priority flood invoked just before it; each job's own events keep their order",
    () =>
      withServer(Effect.gen(function*() {
        const { messages, sendRaw } = yield* rawSession
        const seen: Array<Decoded> = []
        let ends = 0
        // one reader for everything (a second run of the stream could drop the rest of a chunk)
        const reader = yield* messages.pipe(
          Stream.tap((m) =>
            Effect.sync(() => {
              seen.push(m)
              if (terminal(m)) ends++
            })
          ),
          Stream.takeUntil(() => ends === 2),
          Stream.runDrain,
          Effect.fork
        )
        const flood = yield* makeEnvelope("tool.invoke", { tool: "ticker", arguments: { count: 20_000 } }, {
          priority: "low"
        })
        const urgent = yield* makeEnvelope("tool.invoke", { tool: "echo", arguments: { now: true } }, {
          priority: "high"
        })
        yield* sendRaw(flood)
        yield* sendRaw(urgent)
        yield* reader.await
        const jobOf = (invoke: Decoded) =>
          seen.find((m) => m.type === "job.accepted" && m.correlation_id === invoke.id)?.job_id
        const floodJob = jobOf(flood)
        const urgentJob = jobOf(urgent)
        const urgentEnd = seen.findIndex((m) => m.job_id === urgentJob && terminal(m))
        const floodProgress = seen.filter((m) => m.job_id === floodJob && m.type === "job.progress")
        // the urgent job ended while most of the earlier flood was still queued behind it
        assert.isAbove(urgentEnd, 0)
        assert.isAbove(
          seen.slice(urgentEnd).filter((m) => m.job_id === floodJob && m.type === "job.progress").length,
          10_000
        )
        // never reordered within a job
        assert.deepStrictEqual(
          floodProgress.map((m) => field(m, "current")),
          Array.from({ length: 20_000 }, (_, i) => i + 1)
        )
        assert.strictEqual(seen.filter((m) => m.job_id === floodJob).at(-1)?.type, "tool.result")
        const urgentTypes = seen.filter((m) => m.job_id === urgentJob).map((m) => m.type)
        assert.deepStrictEqual([urgentTypes[0], urgentTypes[1], urgentTypes.at(-1)], [
          "job.accepted",
          "job.started",
          "tool.result"
        ])
      })),
    // the ticker checkpoints every tick: the flood is 40,000 events
    60_000
  )
})

/** `arcp serve` on a free port with the test's bearer token, `args` and `env`. */
const serve = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  serveWs(["--bearer", "tok=alice", ...args], env)

const stop = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => {
    child.once("exit", (code) => resolve(code))
    child.kill("SIGTERM")
  })

describe("arcp serve across a restart", () => {
  it(
    "R6.4-5 R6.4-6 R4.3-1 an idempotency_key repeated after a real restart on the same --db returns the same job and outcome; settings come from flags and ARCP_* variables",
    () =>
      withTempDir("arcp-delivery-", async (dir) => {
        const db = join(dir, "events.db")
        const credentials = { scheme: "bearer", token: "tok" } as const
        const first = await serve(["--db", db, "--heartbeat-interval", "7"])
        let before: { jobId: string; result: unknown }
        try {
          const session = await connectPromise(first.address, { credentials })
          assert.strictEqual(session.capabilities.heartbeat_interval_seconds, 7)
          assert.strictEqual(session.capabilities.heartbeat_recovery, "fail")
          const job = await session.invoke("echo", { order: 4812 }, { idempotencyKey: "refund-ord_4812" })
          before = { jobId: job.jobId, result: await job.result }
          await session.close()
        } finally {
          assert.strictEqual(await stop(first.child), 0)
        }

        const second = await serve(["--db", db], {
          ARCP_HEARTBEAT_RECOVERY: "block",
          ARCP_CANCEL_DEADLINE_MS: "100",
          ARCP_IDEMPOTENCY_HORIZON: "0"
        })
        try {
          const session = await connectPromise(second.address, { credentials })
          assert.strictEqual(session.capabilities.heartbeat_recovery, "block")
          const again = await session.invoke("echo", { order: 4812 }, { idempotencyKey: "refund-ord_4812" })
          assert.strictEqual(again.jobId, before.jobId)
          assert.deepStrictEqual(await again.result, before.result)
          const types: Array<string> = []
          for await (const event of again.events) types.push(event.type)
          assert.deepStrictEqual(types, ["tool.result"]) // the earlier outcome, not a new run
          // a horizon of 0 s: a key claimed now is forgotten at once
          const short1 = await session.invoke("echo", {}, { idempotencyKey: "short" })
          const short2 = await session.invoke("echo", {}, { idempotencyKey: "short" })
          assert.notStrictEqual(short1.jobId, short2.jobId)
          // the default cancel deadline (100 ms) applies to a cancel naming none: ABORTED long before the 3 s sleep ends
          const stubborn = await session.invoke("stubborn", { ms: 3000 })
          for await (const event of stubborn.events) if (event.type === "job.started") break
          await stubborn.cancel()
          const ended = await stubborn.result.then(() => undefined, (e: unknown) => e)
          assert.strictEqual(ended instanceof Error ? Reflect.get(ended, "code") : ended, "ABORTED")
          await session.close()
        } finally {
          assert.strictEqual(await stop(second.child), 0)
        }
      }),
    60_000
  )
})
