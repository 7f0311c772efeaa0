/**
 * §17.1 tracing over a real WebSocket: every envelope carries W3C trace and
 * span ids; one invoke gives one joined trace from the handshake to the
 * terminal, the ids on the wire being those of the spans an in-memory
 * OpenTelemetry exporter receives; trace.span messages for a session that
 * negotiated them.
 */
import { assert, describe, it } from "@effect/vitest"
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Effect, Layer, Queue, Stream } from "effect"
import type { Decoded } from "../../src/protocol/Message.js"
import { isW3cSpanId, isW3cTraceId } from "../../src/protocol/TraceContext.js"
import * as Otlp from "../../src/runtime/tracing/Otlp.js"
import { TRACE_EXTENSION } from "../../src/runtime/tracing/SpanFeed.js"
import { reader, sendRaw } from "../support/CoreServer.js"
import { collectUntil, dial, field, open, serverLayer, TOKEN, webSocket } from "../support/Harness.js"

const exporter = new InMemorySpanExporter()
const server = serverLayer({ transport: webSocket }).pipe(
  Layer.provide(Otlp.layerWith(new SimpleSpanProcessor(exporter), { serviceName: "arcp-test" }))
)

const exported = () =>
  exporter.getFinishedSpans().map((s) => ({
    name: s.name,
    traceId: s.spanContext().traceId,
    spanId: s.spanContext().spanId,
    parent: s.parentSpanContext?.spanId
  }))

describe("tracing (§17.1)", () => {
  it.scoped("R17.1-1 R17.1-2 one invoke is one joined trace, handshake to terminal, with the wire's ids", () =>
    Effect.gen(function*() {
      exporter.reset()
      const seen: Array<Decoded> = []
      const traceId = yield* Effect.gen(function*() {
        const span = yield* Effect.currentSpan
        const session = yield* open()
        const events = yield* session.messages
        const job = yield* session.invoke("ticker", { count: 2 })
        yield* job.outcome
        seen.push(...(yield* collectUntil(events, (m) => m.type === "tool.result")))
        return span.traceId
      }).pipe(Effect.withSpan("client request"))
      for (const envelope of seen) {
        assert.isTrue(isW3cSpanId(envelope.span_id ?? ""), `${envelope.type} span_id ${envelope.span_id}`)
        assert.strictEqual(envelope.trace_id, traceId, `${envelope.type} is in the client's trace`)
      }
      const spans = exported().filter((s) => s.traceId === traceId)
      const names = spans.map((s) => s.name)
      for (const name of ["arcp session.open", "arcp tool.invoke", "arcp job ticker"]) {
        assert.include(names, name)
      }
      assert.isTrue(names.some((n) => n.startsWith("arcp log.")), `a log commit span in ${names.join(", ")}`)
      // the job's events hang under the job's span (or a tool call inside it): wire and trace agree
      const job = spans.find((s) => s.name === "arcp job ticker")
      const started = seen.find((m) => m.type === "job.started")
      assert.strictEqual(started?.parent_span_id, job?.spanId)
      const progress = seen.find((m) => m.type === "job.progress")
      assert.strictEqual(progress?.parent_span_id, job?.spanId)
    }).pipe(Effect.provide(server)))

  it.scoped("R17.1-1 a peer that sends no trace ids gets them minted: its commands join its session's trace", () =>
    Effect.gen(function*() {
      const connection = yield* dial
      const read = yield* reader(connection)
      yield* sendRaw(connection, {
        id: "msg_open",
        type: "session.open",
        payload: { auth: { scheme: "bearer", token: TOKEN }, client: { kind: "raw", version: "1" }, capabilities: {} }
      })
      const accepted = yield* read.next
      assert.strictEqual(accepted.type, "session.accepted")
      assert.isTrue(isW3cTraceId(accepted.trace_id ?? ""), `minted trace id ${accepted.trace_id}`)
      assert.isTrue(isW3cSpanId(accepted.span_id ?? ""))
      yield* sendRaw(connection, {
        id: "msg_invoke",
        type: "tool.invoke",
        session_id: field(accepted, "session_id"),
        payload: { tool: "echo", arguments: { x: 1 } }
      })
      const answers: Array<Decoded> = []
      while (answers.at(-1)?.type !== "tool.result") answers.push(yield* read.next)
      for (const answer of answers) {
        assert.strictEqual(answer.trace_id, accepted.trace_id, `${answer.type} joins the session's trace`)
        assert.isTrue(isW3cSpanId(answer.span_id ?? ""))
      }
    }).pipe(Effect.provide(server)))

  it.scoped("a session that negotiated arcpx.arcp.trace.v1 gets trace.span for its job, others do not", () =>
    Effect.gen(function*() {
      const traced = yield* open({ capabilities: { extensions: [TRACE_EXTENSION] } })
      assert.include(traced.capabilities.extensions ?? [], TRACE_EXTENSION)
      const events = yield* traced.messages
      const job = yield* traced.invoke("echo", { a: 1 })
      yield* job.outcome
      const spans = yield* collectUntil(
        events,
        (m) => m.type === "trace.span" && String(Reflect.get(m.payload, "name")).startsWith("arcp job")
      )
      const jobSpan = spans.at(-1)
      assert.strictEqual(jobSpan?.type, "trace.span")
      const result = spans.find((m) => m.type === "tool.result")
      assert.strictEqual(jobSpan?.trace_id, result?.trace_id)
      assert.strictEqual(Reflect.get(jobSpan?.payload ?? {}, "span_id"), result?.parent_span_id)

      const plain = yield* open()
      const plainEvents = yield* plain.messages
      yield* (yield* plain.invoke("echo", {})).outcome
      yield* plain.ping
      const received = yield* plainEvents.pipe(Stream.takeUntil((m) => m.type === "pong"), Stream.runCollect)
      assert.isFalse([...received].some((m) => m.type === "trace.span"))
    }).pipe(Effect.provide(server)))

  it.scoped("§13 a subscription to trace.span gets the spans of a session that did not ask for them; that session does not", () =>
    Effect.gen(function*() {
      const observer = yield* open()
      const observed = yield* Queue.unbounded<Decoded>()
      yield* observer.subscribe({ types: ["trace.span"] }, {}).pipe(
        Stream.runForEach((m) => Queue.offer(observed, m)),
        Effect.forkScoped
      )
      // the backfill marker: the subscription is live
      while ((yield* Queue.take(observed)).type !== "event.emit") continue
      const plain = yield* open()
      const plainEvents = yield* plain.messages
      const job = yield* plain.invoke("echo", { b: 2 })
      yield* job.outcome
      let span: Decoded | undefined
      while (span === undefined) {
        const next = yield* Queue.take(observed)
        if (next.type === "trace.span" && Reflect.get(next.payload, "name") === "arcp job echo") span = next
      }
      assert.strictEqual(span.session_id, plain.id)
      assert.isTrue(isW3cTraceId(span.trace_id ?? ""))
      yield* plain.ping
      const received = yield* plainEvents.pipe(Stream.takeUntil((m) => m.type === "pong"), Stream.runCollect)
      assert.strictEqual([...received].find((m) => m.type === "tool.result")?.trace_id, span.trace_id)
      assert.isFalse([...received].some((m) => m.type === "trace.span"), "not sent to the session itself")
    }).pipe(Effect.provide(server)))
})
