/**
 * The recorder's order: a record call commits on its caller's fiber when no round is running, else waits for
 * the recorder's fiber (issue 12); either way positions follow call order, batches are published in commit
 * order, and a log commit is never traced as a span of its caller (it was not when only the recorder's own
 * fiber committed).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option, Queue, type Tracer } from "effect"
import { make as makeEnvelope } from "../../../src/protocol/Envelope.js"
import { JobId, SessionId } from "../../../src/protocol/Ids.js"
import { encodeUnchecked } from "../../../src/protocol/Message.js"
import { EventBus } from "../../../src/runtime/events/EventBus.js"
import * as Events from "../../../src/runtime/events/Events.js"
import { Recorder } from "../../../src/runtime/events/Recorder.js"
import * as Spans from "../../../src/runtime/tracing/Spans.js"
import * as TracedLog from "../../../src/runtime/tracing/TracedLog.js"
import * as MemoryEventLog from "../../../src/store/MemoryEventLog.js"

// the runtime's stack: the recorder over the traced log (`Runtime.layer`)
const layer = Events.layer.pipe(Layer.provideMerge(TracedLog.layer), Layer.provideMerge(MemoryEventLog.layer))

const entry = (job: string, n: number) =>
  Effect.map(
    makeEnvelope("job.progress", { current: n }, { session_id: SessionId.make("sess_r"), job_id: JobId.make(job) }),
    (envelope) => ({ envelope, sessionId: "sess_r", principal: "alice", json: encodeUnchecked(envelope) })
  )

describe("Recorder", () => {
  it.scoped("R6.4-1 concurrent record calls, some inside spans: positions in call order, published in commit order", () =>
    Effect.gen(function*() {
      const bus = yield* EventBus
      const recorder = yield* Recorder
      const published = yield* bus.subscribe()
      const calls = 60
      // every third caller is in a span: it waits for the recorder's fiber; the others commit on their own
      const results = yield* Effect.forEach(
        Array.from({ length: calls }, (_, i) => i),
        (i) => {
          const record = Effect.flatMap(entry(`job_${i}`, i), (e) => recorder.record([e]))
          return Effect.map(i % 3 === 0 ? record.pipe(Effect.withSpan(`caller ${i}`)) : record, (positions) => ({
            i,
            position: positions[0] ?? -1
          }))
        },
        { concurrency: "unbounded" }
      )
      const positions = results.map((r) => r.position)
      assert.deepStrictEqual([...positions].sort((a, b) => a - b), Array.from({ length: calls }, (_, k) => k + 1))
      // what each caller was told is where the bus put its envelope, and the bus went in position order
      const seen: Array<{ readonly position: number; readonly current: number }> = []
      while (seen.length < calls) {
        const message = yield* Queue.take(published)
        if (message._tag !== "Committed") continue
        for (const event of message.events) {
          seen.push({
            position: event.position,
            current: Number(Reflect.get(Object(event.envelope.payload), "current"))
          })
        }
      }
      assert.deepStrictEqual(seen.map((s) => s.position), Array.from({ length: calls }, (_, k) => k + 1))
      for (const { i, position } of results) {
        assert.strictEqual(seen.find((s) => s.position === position)?.current, i, `caller ${i}`)
      }
    }).pipe(Effect.provide(layer)))

  it.scoped("R17.1-1 a record call inside a span commits without a log span of its own, as before", () =>
    Effect.gen(function*() {
      const recorder = yield* Recorder
      const ended: Array<string> = []
      const listener: Spans.SpanListener = (span: Tracer.Span) => Effect.sync(() => ended.push(span.name))
      const inSpan = Effect.flatMap(entry("job_t", 1), (e) => recorder.record([e])).pipe(Spans.traced("caller"))
      const outside = Effect.flatMap(entry("job_t", 2), (e) => recorder.record([e]))
      const [inner, outer] = yield* Effect.all([inSpan, outside]).pipe(
        Effect.locally(Spans.spanListener, Option.some(listener))
      )
      assert.deepStrictEqual([inner, outer], [[1], [2]])
      assert.deepStrictEqual(ended, ["caller"])
    }).pipe(Effect.provide(layer)))
})
