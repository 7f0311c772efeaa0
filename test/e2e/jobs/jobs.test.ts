/**
 * Jobs over a real WebSocket on 127.0.0.1 with the SQLite event log on a real
 * file: lifecycle, exactly-one terminal, dedup and idempotency (across
 * connections and restarts), cancellation, interrupts, metrics.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Layer, Option, Ref, Schedule, Stream } from "effect"
import type { Scope } from "effect"
import { join } from "node:path"
import * as Client from "../../../src/client/Client.js"
import * as PromiseApi from "../../../src/client/promise/Promise.js"
import { make as makeEnvelope } from "../../../src/protocol/Envelope.js"
import { METRICS_EXTENSION } from "../../../src/protocol/extensions/Metrics.js"
import { type Decoded, encodeUnchecked } from "../../../src/protocol/Message.js"
import { commandDigest } from "../../../src/runtime/internal/Repeats.js"
import * as Tools from "../../../src/runtime/Tools.js"
import { EventLog } from "../../../src/store/EventLog.js"
import * as SqliteEventLog from "../../../src/store/SqliteEventLog.js"
import {
  collectUntil,
  dial,
  field,
  makeCounter,
  open,
  serverLayer,
  terminalsUntilQuiet,
  TOKEN,
  webSocket
} from "../../support/Harness.js"
import { tempDir } from "../../support/TempDir.js"

const dbFile = Effect.map(tempDir("arcp-jobs-"), (dir) => join(dir, "events.db"))

const notCancellable = Tools.make({
  name: "critical_section",
  parameters: Tools.AnyArguments,
  cancellable: false,
  handler: () => Effect.sleep("200 millis")
})

/**
 * The SQLite log of a process that dies once `crashed` is set: no write reaches the file after
 * that (what a kill -9 leaves), though the process goes on tearing down.
 */
const crashable = (file: string, crashed: Ref.Ref<boolean>) =>
  Layer.effect(
    EventLog,
    Effect.map(EventLog, (log) => {
      const unlessCrashed = <A, E>(write: Effect.Effect<A, E>, otherwise: A) =>
        Effect.flatMap(Ref.get(crashed), (dead) => (dead ? Effect.succeed(otherwise) : write))
      return EventLog.of({
        ...log,
        recordOutbound: (envelopes) => unlessCrashed(log.recordOutbound(envelopes), []),
        saveJob: (job) => unlessCrashed(log.saveJob(job), undefined),
        stageJob: (job) => unlessCrashed(log.stageJob(job), undefined)
      })
    })
  ).pipe(Layer.provideMerge(SqliteEventLog.layer({ filename: file })))

/** Runs `body` against a WebSocket server on a fresh SQLite file (or the given one, in a process that may crash). */
const withServer = <A, E>(
  body: Effect.Effect<A, E, Scope.Scope | Layer.Layer.Success<ReturnType<typeof serverLayer>>>,
  options: { readonly file?: string; readonly tools?: ReadonlyArray<Tools.Tool>; readonly crashed?: Ref.Ref<boolean> } =
    {}
) =>
  Effect.gen(function*() {
    const file = options.file ?? (yield* dbFile)
    return yield* body.pipe(
      Effect.provide(serverLayer({
        transport: webSocket,
        eventLog: options.crashed === undefined
          ? SqliteEventLog.layer({ filename: file })
          : crashable(file, options.crashed),
        tools: [notCancellable, ...(options.tools ?? [])]
      }))
    )
  })

const terminal = (m: Decoded) => Client.terminalTypes.has(m.type)
/** Session options asking for the runtime's per-job metrics as events (arcpx.arcp.metrics.v1). */
const withMetrics = { capabilities: { extensions: [METRICS_EXTENSION] } }

describe("jobs over WebSocket + SQLite", () => {
  it.scopedLive("R6.3-1 R6.1.1-3 R4.2-4 R10.1-5 R10.2-1 tool.invoke → job.accepted → job.started → progress → exactly one terminal", () =>
    withServer(Effect.gen(function*() {
      const session = yield* open()
      const messages = yield* session.messages
      const invokeId = yield* session.send("tool.invoke", { tool: "ticker", arguments: { count: 3 } })
      const seen = yield* collectUntil(messages, terminal)
      const types = seen.map((m) => m.type)
      assert.strictEqual(types[0], "job.accepted")
      assert.strictEqual(seen[0]?.correlation_id, invokeId)
      const jobId = seen[0]?.job_id
      assert.isDefined(jobId)
      assert.isTrue(seen.every((m) => m.job_id === jobId), "every job event carries job_id")
      assert.isTrue(seen.every((m) => m.causation_id === invokeId), "and names the invoke as its cause")
      assert.isBelow(types.indexOf("job.started"), types.indexOf("job.progress"))
      const progress = seen.filter((m) => m.type === "job.progress")
      assert.deepStrictEqual(progress.map((p) => [field(p, "current"), field(p, "total")]), [[1, 3], [2, 3], [3, 3]])
      const last = seen.at(-1)
      assert.strictEqual(last?.type, "tool.result")
      assert.strictEqual(last?.correlation_id, invokeId)
      assert.deepStrictEqual(last?.payload, { value: { count: 3 } })
      assert.strictEqual(types.filter((t) => Client.terminalTypes.has(t)).length, 1)
      // and none after it: everything the runtime sent up to a later ping's pong
      assert.deepStrictEqual(yield* terminalsUntilQuiet(session, messages, [jobId], seen), [1])
    })))

  it.scopedLive("R17.3.1-1 R18.1-1 R18.3-1 R18.2-3 the runtime reports tool.invocations, latency.ms and errors.total under the reserved names and units", () =>
    withServer(Effect.gen(function*() {
      const session = yield* open(withMetrics)
      const messages = yield* session.messages
      yield* session.send("tool.invoke", { tool: "fail", arguments: { code: "UNAVAILABLE", message: "down" } })
      const seen = yield* collectUntil(messages, terminal)
      const metrics = seen.filter((m) => m.type === "metric")
      const byName = (name: string) => metrics.filter((m) => field(m, "name") === name)
      assert.deepStrictEqual(byName("tool.invocations").map((m) => [field(m, "value"), field(m, "unit")]), [[
        1,
        "count"
      ]])
      const phases = byName("latency.ms").map((m) => {
        assert.strictEqual(field(m, "unit"), "ms")
        const dims = field(m, "dims")
        return typeof dims === "object" && dims !== null ? Reflect.get(dims, "phase") : undefined
      })
      assert.deepStrictEqual(phases, ["queue", "exec", "total"])
      const errors = byName("errors.total")
      assert.strictEqual(errors.length, 1)
      assert.strictEqual(field(errors[0], "unit"), "count")
      assert.deepInclude(field(errors[0], "dims"), { code: "UNAVAILABLE" })
      const last = seen.at(-1)
      assert.strictEqual(last?.type, "tool.error")
      assert.strictEqual(field(last, "code"), "UNAVAILABLE")
      assert.strictEqual(field(last, "retryable"), true)
    })))

  it.scopedLive("R10.2-1 exactly one terminal per job with 60 jobs at once", () =>
    withServer(Effect.gen(function*() {
      const session = yield* open()
      const messages = yield* session.messages
      const jobs = yield* Effect.forEach(Array.from({ length: 60 }, (_, i) => i), (i) =>
        session.invoke(
          i % 3 === 0 ? "echo" : i % 3 === 1 ? "ticker" : "sleep",
          i % 3 === 0 ? { i } : i % 3 === 1 ? { count: 5 } : { ms: 5000 }
        ), {
        concurrency: "unbounded"
      })
      // cancel the sleepers: every job must still end exactly once
      yield* Effect.forEach(
        jobs.filter((_, i) => i % 3 === 2),
        (j) => j.cancel(),
        { concurrency: "unbounded" }
      )
      const terminals = yield* Effect.forEach(
        jobs,
        (j) => j.events.pipe(Stream.filter(terminal), Stream.runCollect, Effect.map((c) => c.length)),
        { concurrency: "unbounded" }
      )
      assert.deepStrictEqual(terminals, jobs.map(() => 1))
      assert.strictEqual(new Set(jobs.map((j) => j.jobId)).size, 60)
      // a job's events end at its first terminal; the session-wide stream, up to a later ping's pong, shows any other
      assert.deepStrictEqual(yield* terminalsUntilQuiet(session, messages, jobs.map((j) => j.jobId)), jobs.map(() => 1))
    })), 30_000) // about 5 s on a loaded machine

  it.scopedLive("R6.1.1-1 R6.1.1-2 R6.4-2 a retransmitted message id is not executed twice; it gets the same answers", () =>
    Effect.gen(function*() {
      const counter = yield* makeCounter
      yield* withServer(
        Effect.gen(function*() {
          const connection = yield* dial
          const session = yield* Client.connect(connection, { credentials: { scheme: "bearer", token: TOKEN } })
          const messages = yield* session.messages
          const invoke = yield* makeEnvelope("tool.invoke", { tool: "count", arguments: {} }, {
            session_id: session.id
          })
          yield* connection.send(encodeUnchecked(invoke))
          const first = yield* collectUntil(messages, terminal)
          yield* connection.send(encodeUnchecked(invoke)) // the same id again: a retransmit
          const replayed = yield* collectUntil(messages, terminal)
          assert.strictEqual(yield* Ref.get(counter.count), 1)
          const answers = (ms: ReadonlyArray<Decoded>) => ms.filter((m) => m.correlation_id === invoke.id)
          assert.deepStrictEqual(
            answers(replayed).map((m) => [m.id, m.type]),
            answers(first).map((m) => [m.id, m.type])
          )
          assert.deepStrictEqual(answers(replayed).map((m) => m.type), ["job.accepted", "tool.result"])
        }),
        { tools: [counter.tool] }
      )
    }))

  it.scopedLive("R6.4-3 R6.4-4 R6.4-5 R6.4-6 the same idempotency_key from a new connection returns the same job and outcome without running again", () =>
    Effect.gen(function*() {
      const counter = yield* makeCounter
      yield* withServer(
        Effect.gen(function*() {
          const a = yield* open()
          const first = yield* a.invoke("count", {}, { idempotency_key: "refund-ord_4812" })
          const firstOutcome = yield* first.outcome
          const b = yield* open()
          const second = yield* b.invoke("count", {}, { idempotency_key: "refund-ord_4812" })
          assert.strictEqual(second.jobId, first.jobId)
          assert.deepStrictEqual(yield* second.outcome, firstOutcome)
          assert.strictEqual(yield* Ref.get(counter.count), 1)
          // another principal's identical key is its own command
          const bob = yield* open({ credentials: { scheme: "bearer", token: "other-token" } })
          const third = yield* bob.invoke("count", {}, { idempotency_key: "refund-ord_4812" })
          assert.notStrictEqual(third.jobId, first.jobId)
          yield* third.outcome
          assert.strictEqual(yield* Ref.get(counter.count), 2)
        }),
        { tools: [counter.tool] }
      )
    }))

  it.scopedLive("R4.3-1 R6.4-5 R6.1.1-2 R10.2-2 idempotency keys and message ids survive a runtime restart on the same db file", () =>
    Effect.gen(function*() {
      const counter = yield* makeCounter
      const db = yield* dbFile
      const retransmitted = yield* makeEnvelope("tool.invoke", { tool: "count", arguments: {} })
      const before = yield* Effect.scoped(withServer(
        Effect.gen(function*() {
          const session = yield* open()
          const job = yield* session.invoke("count", {}, { idempotency_key: "nightly-report" })
          const outcome = yield* job.outcome
          const connection = yield* dial
          const raw = yield* Client.connect(connection, { credentials: { scheme: "bearer", token: TOKEN } })
          const messages = yield* raw.messages
          yield* connection.send(encodeUnchecked({ ...retransmitted, session_id: raw.id }))
          const answers = yield* collectUntil(messages, terminal)
          return {
            jobId: job.jobId,
            outcome,
            answers: answers.filter((m) => m.correlation_id === retransmitted.id).map((m) => m.id)
          }
        }),
        { file: db, tools: [counter.tool] }
      ))
      assert.strictEqual(yield* Ref.get(counter.count), 2)
      yield* Effect.scoped(withServer(
        Effect.gen(function*() {
          const session = yield* open()
          const again = yield* session.invoke("count", {}, { idempotency_key: "nightly-report" })
          assert.strictEqual(again.jobId, before.jobId)
          assert.deepStrictEqual(yield* again.outcome, before.outcome)
          // the same message id, after the restart and on a new session: answered as before, not run
          const connection = yield* dial
          const raw = yield* Client.connect(connection, { credentials: { scheme: "bearer", token: TOKEN } })
          const messages = yield* raw.messages
          yield* connection.send(encodeUnchecked({ ...retransmitted, session_id: raw.id }))
          const answers = yield* collectUntil(messages, terminal)
          // the very envelopes answered before (same ids), not a new execution
          assert.deepStrictEqual(
            answers.filter((m) => m.correlation_id === retransmitted.id).map((m) => m.id),
            before.answers
          )
          assert.strictEqual(before.answers.length, 2)
        }),
        { file: db, tools: [counter.tool] }
      ))
      assert.strictEqual(yield* Ref.get(counter.count), 2)
    }))

  it.scopedLive("R10.2-1 R6.4-6 R6.4-2 a job running when the runtime died ends job.failed ABORTED at the next start; its idempotency key and message id replay that", () =>
    Effect.gen(function*() {
      const db = yield* dbFile
      const crashed = yield* Ref.make(false)
      const invoke = yield* makeEnvelope("tool.invoke", { tool: "sleep", arguments: { ms: 600_000 } }, {
        idempotency_key: "lost-report"
      })
      const jobId = yield* Effect.scoped(withServer(
        Effect.gen(function*() {
          const connection = yield* dial
          const session = yield* Client.connect(connection, {
            credentials: { scheme: "bearer", token: TOKEN },
            ...withMetrics
          })
          const messages = yield* session.messages
          yield* connection.send(encodeUnchecked({ ...invoke, session_id: session.id }))
          // up to tool.invocations, right after job.started: each is committed before it is sent
          const running = (yield* collectUntil(messages, (m) => m.type === "metric")).at(-1)
          assert.isDefined(running?.job_id)
          yield* Ref.set(crashed, true) // the process dies here: its teardown writes nothing more
          return running?.job_id ?? ""
        }),
        { file: db, crashed }
      ))
      // the dead runtime left the record unfinished
      const left = yield* Effect.provide(
        Effect.flatMap(EventLog, (log) => log.getJob(jobId)),
        SqliteEventLog.layer({ filename: db })
      )
      assert.deepStrictEqual(Option.map(left, (r) => [r.state, r.terminal]), Option.some(["running", undefined]))
      yield* Effect.scoped(withServer(
        Effect.gen(function*() {
          // ended as the runtime started, before anyone asked
          const record = yield* Effect.flatMap(EventLog, (log) => log.getJob(jobId))
          assert.strictEqual(Option.getOrUndefined(record)?.state, "failed")
          const connection = yield* dial
          const session = yield* Client.connect(connection, { credentials: { scheme: "bearer", token: TOKEN } })
          const messages = yield* session.messages
          // the same idempotency key, in a new command: the same job, then its terminal
          const repeat = yield* makeEnvelope("tool.invoke", { tool: "sleep", arguments: { ms: 600_000 } }, {
            session_id: session.id,
            idempotency_key: "lost-report"
          })
          yield* connection.send(encodeUnchecked(repeat))
          const answers = yield* collectUntil(messages, terminal)
          assert.deepStrictEqual(answers.map((m) => [m.type, m.job_id, m.correlation_id]), [[
            "job.accepted",
            jobId,
            repeat.id
          ], ["job.failed", jobId, repeat.id]])
          assert.deepStrictEqual(answers[1]?.payload, {
            code: "ABORTED",
            message: "the runtime stopped while the job ran; it was not resumed",
            retryable: false
          })
          // the original message id again: its answers and its job's events, ending with that terminal
          yield* connection.send(encodeUnchecked({ ...invoke, session_id: session.id }))
          const replayed = yield* collectUntil(messages, terminal)
          assert.deepStrictEqual(replayed.map((m) => m.type), ["job.accepted", "job.started", "metric", "job.failed"])
          assert.isTrue(replayed.every((m) => m.job_id === jobId && m.causation_id === invoke.id))
          assert.deepStrictEqual(replayed.at(-1)?.payload, answers[1]?.payload)
        }),
        { file: db }
      ))
    }))

  it.scopedLive("R10.2-1 R6.4-6 a repeated key whose record never ended, and whose job runs nowhere here, ends it job.failed ABORTED instead of waiting", () =>
    withServer(Effect.gen(function*() {
      // written behind the running runtime's back: its start-up sweep never saw this record
      const log = yield* EventLog
      const now = yield* Clock.currentTimeMillis
      yield* log.claimIdempotencyKey({
        principal: "alice",
        key: "orphan",
        job_id: "job_orphan",
        digest: yield* commandDigest("sleep", { ms: 600_000 }),
        now,
        expiresAt: now + 60_000
      })
      yield* log.saveJob({
        job_id: "job_orphan",
        session_id: "sess_gone",
        principal: "alice",
        tool: "sleep",
        command_id: "msg_gone",
        state: "running",
        retry_count: 0,
        idempotency_key: "orphan",
        created_at: now,
        updated_at: now
      })
      const session = yield* open()
      const messages = yield* session.messages
      const repeat = yield* session.send("tool.invoke", { tool: "sleep", arguments: { ms: 600_000 } }, {
        idempotency_key: "orphan"
      })
      const answers = yield* collectUntil(messages, terminal)
      assert.deepStrictEqual(answers.map((m) => [m.type, m.job_id, m.correlation_id]), [[
        "job.accepted",
        "job_orphan",
        repeat
      ], ["job.failed", "job_orphan", repeat]])
      assert.strictEqual(field(answers[1], "code"), "ABORTED")
      const record = Option.getOrUndefined(yield* log.getJob("job_orphan"))
      assert.deepStrictEqual([record?.state, record?.terminal !== undefined], ["failed", true])
    })))

  it.scopedLive("R10.2-1 R6.4-6 a job running at a graceful stop ends job.cancelled (source runtime); after a restart its key replays that", () =>
    Effect.gen(function*() {
      const db = yield* dbFile
      const jobId = yield* Effect.scoped(withServer(
        Effect.gen(function*() {
          const session = yield* open()
          const job = yield* session.invoke("sleep", { ms: 600_000 }, { idempotency_key: "stopped-report" })
          yield* job.events.pipe(Stream.filter((m) => m.type === "job.started"), Stream.runHead)
          return job.jobId
        }),
        { file: db }
      ))
      yield* Effect.scoped(withServer(
        Effect.gen(function*() {
          const session = yield* open()
          const again = yield* session.invoke("sleep", { ms: 600_000 }, { idempotency_key: "stopped-report" })
          assert.strictEqual(again.jobId, jobId)
          const end = yield* again.events.pipe(Stream.filter(terminal), Stream.runHead)
          assert.deepStrictEqual(
            Option.map(end, (m) => [m.type, m.payload]),
            Option.some(["job.cancelled", { source: "runtime" }])
          )
        }),
        { file: db }
      ))
    }))

  it.scopedLive("R10.4-1 R10.4-2 R10.4-3 R10.1-4 R4.3-4 cancel of a running job: cancel.accepted, then job.cancelled", () =>
    withServer(Effect.gen(function*() {
      const session = yield* open()
      const job = yield* session.invoke("sleep", { ms: 60_000 })
      const answer = yield* job.cancel({ reason: "user_aborted" })
      assert.strictEqual(answer.type, "cancel.accepted")
      const events = yield* job.events.pipe(Stream.runCollect, Effect.map((c) => [...c]))
      const last = events.at(-1)
      assert.strictEqual(last?.type, "job.cancelled")
      assert.deepStrictEqual(last?.payload, { reason: "user_aborted", source: "client" })
      const error = yield* Effect.flip(job.outcome)
      assert.strictEqual(error._tag === "ArcpError" ? error.code : error._tag, "CANCELLED")
    })))

  it.scopedLive("R10.4-8 cancel is refused: already_terminal, not_found, not_cancellable", () =>
    withServer(Effect.gen(function*() {
      const session = yield* open()
      const done = yield* session.invoke("echo", {})
      yield* done.outcome
      const refused = (m: Decoded) => (m.type === "cancel.refused" ? field(m, "reason") : m.type)
      assert.strictEqual(refused(yield* done.cancel()), "already_terminal")
      assert.strictEqual(
        refused(yield* session.request("cancel", { target: "job", target_id: "job_nope" })),
        "not_found"
      )
      const critical = yield* session.invoke("critical_section", {})
      assert.strictEqual(refused(yield* critical.cancel()), "not_cancellable")
      yield* critical.outcome
      // another principal cannot see, let alone cancel, this session's jobs
      const running = yield* session.invoke("sleep", { ms: 60_000 })
      const bob = yield* open({ credentials: { scheme: "bearer", token: "other-token" } })
      assert.strictEqual(
        refused(yield* bob.request("cancel", { target: "job", target_id: running.jobId })),
        "not_found"
      )
      yield* running.cancel()
    })))

  it.scopedLive("R10.4-6 R10.4-7 a handler that ignores cancellation past deadline_ms is abandoned: job.failed ABORTED", () =>
    withServer(Effect.gen(function*() {
      const session = yield* open()
      const messages = yield* session.messages
      const job = yield* session.invoke("stubborn", { ms: 1500 })
      assert.strictEqual((yield* job.cancel({ deadline_ms: 100 })).type, "cancel.accepted")
      const events = yield* job.events.pipe(Stream.runCollect, Effect.map((c) => [...c]))
      const last = events.at(-1)
      assert.strictEqual(last?.type, "job.failed")
      assert.strictEqual(field(last, "code"), "ABORTED")
      assert.strictEqual(events.filter(terminal).length, 1)
      assert.deepStrictEqual(yield* terminalsUntilQuiet(session, messages, [job.jobId]), [1])
    })))

  it.scopedLive("R10.4-6 R10.4-7 a Promise handler (arcp/promise) that ignores its AbortSignal is escalated to ABORTED after deadline_ms", () =>
    Effect.gen(function*() {
      let aborted = false
      let settle: (value: unknown) => void = () => undefined
      const deaf = PromiseApi.tool({
        name: "deaf_promise",
        parameters: PromiseApi.AnyArguments,
        handler: (_, ctx) => {
          ctx.signal.addEventListener("abort", () => {
            aborted = true
          })
          return new Promise((resolve) => {
            settle = resolve
          })
        }
      })
      yield* Effect.addFinalizer(() => Effect.sync(() => settle("late")))
      yield* withServer(
        Effect.gen(function*() {
          const session = yield* open()
          const messages = yield* session.messages
          const job = yield* session.invoke("deaf_promise", {})
          yield* job.events.pipe(Stream.filter((m) => m.type === "job.started"), Stream.runHead)
          assert.strictEqual((yield* job.cancel({ deadline_ms: 300 })).type, "cancel.accepted")
          const events = yield* job.events.pipe(Stream.runCollect, Effect.map((c) => [...c]))
          assert.isTrue(aborted, "the handler's signal was aborted")
          assert.deepStrictEqual(events.filter(terminal).map((m) => [m.type, field(m, "code")]), [[
            "job.failed",
            "ABORTED"
          ]])
          settle("late") // settling afterwards changes nothing: the job has its one terminal
          assert.deepStrictEqual(yield* terminalsUntilQuiet(session, messages, [job.jobId]), [1])
        }),
        { tools: [deaf] }
      )
    }))

  it.scopedLive("R10.5-1 R12.1-1 R12.4-1 interrupt: the job blocks on a human.input.request and resumes on the answer", () =>
    withServer(Effect.gen(function*() {
      const session = yield* open({ capabilities: { interrupt: true, human_input: true } })
      assert.isTrue(session.capabilities.interrupt === true)
      const job = yield* session.invoke("ticker", { count: 4, interval_ms: 100 })
      yield* job.interrupt("Stop and ask before touching production tables.")
      const events: Array<Decoded> = []
      const request = yield* job.events.pipe(
        Stream.tap((m) => Effect.sync(() => events.push(m))),
        Stream.filter((m) => m.type === "human.input.request"),
        Stream.runHead
      )
      assert.isTrue(Option.isSome(request))
      if (Option.isNone(request)) return
      assert.strictEqual(field(request.value, "prompt"), "Stop and ask before touching production tables.")
      assert.isString(field(request.value, "expires_at"))
      // an answer that fails the schema is refused, and the job stays blocked
      const bad = yield* Effect.flip(session.respond(request.value.id, { guidance: 42 }))
      assert.strictEqual(bad._tag === "ArcpError" ? bad.code : bad._tag, "INVALID_ARGUMENT")
      yield* session.respond(request.value.id, { guidance: "read-only please" })
      assert.deepStrictEqual(yield* job.outcome, { count: 4 })
    })))

  it.scopedLive("R10.5-1 R12.3-4 an interrupted job ends on cancel, and its stale prompt is withdrawn", () =>
    withServer(Effect.gen(function*() {
      const session = yield* open({ capabilities: { human_input: true } })
      const job = yield* session.invoke("ticker", { count: 1000, interval_ms: 50 })
      yield* job.interrupt()
      const seen: Array<Decoded> = []
      yield* job.events.pipe(
        Stream.tap((m) => Effect.sync(() => seen.push(m))),
        Stream.filter((m) => m.type === "human.input.request"),
        Stream.runHead
      )
      yield* job.cancel()
      const rest = yield* job.events.pipe(Stream.runCollect, Effect.map((c) => [...c]))
      const types = rest.map((m) => m.type)
      assert.include(types, "human.input.cancelled")
      assert.strictEqual(types.at(-1), "job.cancelled")
    })))

  it.scopedLive("R4.6-1 R8.1-2 a tool invocation before session.accepted is never executed", () =>
    Effect.gen(function*() {
      const counter = yield* makeCounter
      yield* withServer(
        Effect.gen(function*() {
          const connection = yield* dial
          const early = yield* makeEnvelope("tool.invoke", { tool: "count", arguments: {} })
          yield* connection.send(encodeUnchecked(early))
          const session = yield* Client.connect(connection, { credentials: { scheme: "bearer", token: TOKEN } })
          yield* session.ping
          assert.strictEqual(yield* Ref.get(counter.count), 0)
          const job = yield* session.invoke("count", {})
          yield* job.outcome
          assert.strictEqual(yield* Ref.get(counter.count), 1)
        }),
        { tools: [counter.tool] }
      )
    }))

  it.scopedLive("R6.3-3 tool.invoke of an unknown tool or with bad arguments is nacked before any job exists", () =>
    withServer(Effect.gen(function*() {
      const session = yield* open()
      const unknown = yield* Effect.flip(session.invoke("no_such_tool"))
      assert.strictEqual(unknown._tag === "ArcpError" ? unknown.code : unknown._tag, "NOT_FOUND")
      const bad = yield* Effect.flip(session.invoke("ticker", { count: "many" }))
      assert.strictEqual(bad._tag === "ArcpError" ? bad.code : bad._tag, "INVALID_ARGUMENT")
    })))
})

describe("the tool context and session close", () => {
  const reporter = Tools.make({
    name: "reporter",
    parameters: Tools.AnyArguments,
    handler: (_, ctx) =>
      Effect.gen(function*() {
        yield* ctx.log("info", "starting", { step: 1 })
        yield* ctx.metric("tokens.used", 1432, "tokens", { kind: "input" })
        yield* ctx.metric("arcpx.acme.cache_hit_ratio", 0.75, "ratio")
        const refused = yield* Effect.either(ctx.metric("cache_hit_ratio", 0.75, "ratio"))
        const checkpoint = yield* ctx.checkpoint({ page: 3 })
        return { refused: refused._tag === "Left" ? refused.left.code : "accepted", checkpoint }
      })
  })

  it.scopedLive("R4.2-3 R4.2-5 R10.1-3 R10.2-3 R17.3.1-2 R17.3.1-3 handlers log, report metrics (namespaced if not standard) and checkpoint", () =>
    withServer(
      Effect.gen(function*() {
        const session = yield* open()
        const job = yield* session.invoke("reporter", {})
        const events = yield* job.events.pipe(Stream.runCollect, Effect.map((c) => [...c]))
        const outcome = yield* job.outcome
        assert.deepInclude(outcome, { refused: "INVALID_ARGUMENT" })
        const log = events.find((m) => m.type === "log")
        assert.deepStrictEqual(log?.payload, { level: "info", message: "starting", attributes: { step: 1 } })
        const names = events.filter((m) => m.type === "metric").map((m) => field(m, "name"))
        assert.includeMembers(names, ["tokens.used", "arcpx.acme.cache_hit_ratio"])
        assert.notInclude(names, "cache_hit_ratio")
        const checkpoint = events.find((m) => m.type === "job.checkpoint")
        assert.deepStrictEqual(field(checkpoint, "snapshot"), { page: 3 })
        const record = yield* Effect.flatMap(EventLog, (log) => log.getJob(job.jobId))
        assert.isTrue(Option.isSome(record))
        if (Option.isSome(record)) {
          assert.strictEqual(record.value.checkpoint_id, field(checkpoint, "checkpoint_id"))
          assert.strictEqual(record.value.state, "completed")
        }
      }),
      { tools: [reporter] }
    ))

  it.scopedLive("R10.2-2 R10.2-5 a cancelled job's record keeps its state and cancellation reason", () =>
    withServer(Effect.gen(function*() {
      const session = yield* open()
      const job = yield* session.invoke("sleep", { ms: 60_000 })
      yield* job.cancel({ reason: "user_aborted" })
      yield* Effect.flip(job.outcome)
      const record = yield* Effect.flatMap(EventLog, (log) => log.getJob(job.jobId))
      assert.isTrue(Option.isSome(record))
      if (Option.isSome(record)) assert.deepInclude(record.value, { state: "cancelled", cancel_reason: "user_aborted" })
    })))

  it.scopedLive("R9-9 session.close cancels open jobs by default, or detaches them to run on", () =>
    withServer(Effect.gen(function*() {
      const first = yield* open()
      const cancelled = yield* first.invoke("sleep", { ms: 60_000 })
      yield* first.close({ reason: "done" })
      const cancelledEvents = yield* cancelled.events.pipe(Stream.runCollect, Effect.map((c) => [...c]))
      assert.strictEqual(cancelledEvents.at(-1)?.type, "job.cancelled")

      const second = yield* open()
      const detached = yield* second.invoke("sleep", { ms: 300 }, { idempotency_key: "detached-sleep" })
      yield* second.close({ dispose_jobs: "detach" })
      // the detached job finishes on its own; its outcome is there for whoever asks with the same key
      const third = yield* open()
      const again = yield* third.invoke("sleep", { ms: 300 }, { idempotency_key: "detached-sleep" })
      assert.strictEqual(again.jobId, detached.jobId)
      // poll the record (bounded) until the detached job has ended
      const record = yield* Effect.flatMap(EventLog, (log) => log.getJob(detached.jobId)).pipe(
        Effect.filterOrFail((r) => Option.isSome(r) && r.value.terminal !== undefined),
        Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 250 })
      )
      assert.strictEqual(Option.isSome(record) ? record.value.state : "missing", "completed")
    })))

  it.scopedLive("R9-9 R9-3 session.close's ack carries the session's release: closed (or detached) with its last position", () =>
    withServer(Effect.gen(function*() {
      const log = yield* EventLog
      const lastOf = (sessionId: string) =>
        Effect.map(log.read({ session_id: [sessionId], after: 0 }), (rows) => rows.at(-1))
      const first = yield* open()
      yield* first.close({ reason: "done" })
      const closed = Option.getOrUndefined(yield* log.getSession(first.id))
      const lastClosed = yield* lastOf(first.id)
      assert.strictEqual(lastClosed?.type, "ack")
      assert.deepStrictEqual([closed?.state, closed?.last_position], ["closed", lastClosed?.position])

      const second = yield* open()
      yield* second.close({ dispose_jobs: "detach" })
      const detached = Option.getOrUndefined(yield* log.getSession(second.id))
      assert.deepStrictEqual([detached?.state, detached?.last_position], [
        "detached",
        (yield* lastOf(second.id))?.position
      ])
      assert.isTrue((detached?.resume_until ?? 0) > (detached?.updated_at ?? 0), "resumable for the window")
    })))
})
