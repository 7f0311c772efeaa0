/** The dashboard's model: what the page folds from its session's messages and its subscription's deliveries. */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Fold from "../../src/dashboard/web/Fold.js"
import * as Model from "../../src/dashboard/web/Model.js"
import { type HeaderOptions, make } from "../../src/protocol/Envelope.js"
import { JobId, SessionId, StreamId, SubscriptionId } from "../../src/protocol/Ids.js"
import type { Decoded, MessageType, PayloadOf } from "../../src/protocol/Message.js"

const msg = <T extends MessageType>(type: T, payload: PayloadOf<T>, header: HeaderOptions = {}): Decoded =>
  Effect.runSync(make(type, payload, header))

const session = SessionId.make("sess_a")
const job = JobId.make("job_1")
const at = "2026-11-29T12:00:00.000Z"

describe("dashboard model", () => {
  it("follows a job from accepted through progress to its end, counting heartbeats", () => {
    const model = Model.empty()
    Fold.apply(model, msg("job.accepted", { job_id: job, accepted_at: at }, { session_id: session }))
    Fold.apply(model, msg("job.started", { job_id: job, started_at: at }, { session_id: session, job_id: job }))
    Fold.apply(model, msg("job.progress", { current: 1, total: 4 }, { session_id: session, job_id: job }))
    assert.strictEqual(model.jobs.get(job)?.percent, 25)
    Fold.apply(
      model,
      msg("job.heartbeat", { sequence: 0, deadline_ms: 1000, state: "running" }, { session_id: session, job_id: job })
    )
    Fold.apply(model, msg("job.failed", { code: "INTERNAL", message: "boom" }, { session_id: session, job_id: job }))
    const view = model.jobs.get(job)
    assert.strictEqual(view?.state, "failed")
    assert.strictEqual(view?.heartbeats, 1)
    assert.deepStrictEqual(view?.error, { code: "INTERNAL", message: "boom" })
    assert.deepStrictEqual(view?.timeline.map((e) => e.type), [
      "job.accepted",
      "job.started",
      "job.progress",
      "job.heartbeat",
      "job.failed"
    ])
    assert.strictEqual(model.sessions.get(session)?.jobs, 1)
  })

  it("unwraps subscribe.event, counts a message seen twice once, and remembers where to resume", () => {
    const model = Model.empty()
    const progress = msg("job.progress", { percent: 50 }, { session_id: session, job_id: job })
    const delivered = msg("subscribe.event", { event: progress }, { subscription_id: SubscriptionId.make("sub_1") })
    Fold.apply(model, progress)
    Fold.apply(model, delivered)
    assert.strictEqual(model.jobs.get(job)?.timeline.length, 1)
    assert.strictEqual(model.lastEventId, progress.id)
    const marker = msg("event.emit", { name: "subscription.backfill_complete", data: { position: 3 } })
    Fold.apply(model, msg("subscribe.event", { event: marker }, { subscription_id: SubscriptionId.make("sub_1") }))
    assert.isTrue(model.backfillDone)
    assert.strictEqual(model.lastEventId, progress.id, "the synthetic marker is no place to resume from")
  })

  it("keeps human and permission requests pending until answered or the job ends", () => {
    const model = Model.empty()
    const ask = msg("human.input.request", {
      prompt: "?",
      response_schema: { type: "string" },
      expires_at: at
    }, { session_id: session, job_id: job })
    Fold.apply(model, ask)
    assert.strictEqual(model.jobs.get(job)?.state, "blocked")
    assert.strictEqual(model.pending.get(ask.id)?.kind, "input")
    Fold.apply(model, msg("tool.result", { value: "x" }, { session_id: session, job_id: job }))
    assert.strictEqual(model.pending.size, 0)
    assert.strictEqual(model.jobs.get(job)?.state, "completed")
    assert.strictEqual(model.jobs.get(job)?.percent, 100)
  })

  it("renders streams: text accumulated (bounded), thought chunks kept with redaction marked", () => {
    const model = Model.empty()
    const text = StreamId.make("str_t")
    const thought = StreamId.make("str_th")
    Fold.apply(model, msg("stream.open", { kind: "text" }, { session_id: session, job_id: job, stream_id: text }))
    Fold.apply(
      model,
      msg("stream.open", { kind: "thought" }, { session_id: session, job_id: job, stream_id: thought })
    )
    Fold.apply(model, msg("stream.chunk", { sequence: 0, data: "hel" }, { job_id: job, stream_id: text }))
    Fold.apply(model, msg("stream.chunk", { sequence: 1, data: "lo" }, { job_id: job, stream_id: text }))
    Fold.apply(model, msg("stream.chunk", { sequence: 0, role: "model", content: "hmm" }, { stream_id: thought }))
    Fold.apply(model, msg("stream.chunk", { sequence: 1, redacted: true }, { stream_id: thought }))
    assert.strictEqual(model.streams.get(text)?.text, "hello")
    assert.deepStrictEqual(model.streams.get(thought)?.thoughts, [
      { role: "model", content: "hmm", redacted: false },
      { role: undefined, content: undefined, redacted: true }
    ])
    assert.deepStrictEqual(model.jobs.get(job)?.streams, [text, thought])
    const big = "x".repeat(Model.LIMITS.streamText)
    Fold.apply(model, msg("stream.chunk", { sequence: 2, data: big }, { stream_id: text }))
    assert.strictEqual(model.streams.get(text)?.text.length, Model.LIMITS.streamText)
    assert.isTrue(model.streams.get(text)?.truncated)
  })

  it("keeps metric series per name, bounded", () => {
    const model = Model.empty()
    for (let i = 0; i < Model.LIMITS.metricPoints + 10; i++) {
      Fold.apply(model, msg("metric", { name: "tokens.used", value: i, unit: "tokens" }, { session_id: session }))
    }
    const series = model.metrics.get("tokens.used") ?? []
    assert.strictEqual(series.length, Model.LIMITS.metricPoints)
    assert.strictEqual(series.at(-1)?.value, Model.LIMITS.metricPoints + 9)
  })

  it("holds at most LIMITS.jobs jobs, dropping finished ones first", () => {
    const model = Model.empty()
    const running = JobId.make("job_running")
    Fold.apply(model, msg("job.accepted", { job_id: running, accepted_at: at }))
    for (let i = 0; i < Model.LIMITS.jobs + 50; i++) {
      const id = JobId.make(`job_${i}`)
      Fold.apply(model, msg("job.accepted", { job_id: id, accepted_at: at }))
      Fold.apply(model, msg("job.completed", { result: i }, { job_id: id }))
    }
    assert.isAtMost(model.jobs.size, Model.LIMITS.jobs)
    assert.isTrue(model.jobs.has(running), "a running job is kept")
    assert.strictEqual(Model.jobList(model, "active").length, 1)
  })
})
