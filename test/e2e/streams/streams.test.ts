/**
 * Streams (RFC §11) and stream cancellation (§10.4): over the memory transport
 * under TestClock, and over a real WebSocket on 127.0.0.1.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Either, type Layer, Queue, type Scope, Stream, TestClock } from "effect"
import * as Client from "../../../src/client/Client.js"
import { ArcpError } from "../../../src/protocol/Errors.js"
import type { Decoded } from "../../../src/protocol/Message.js"
import * as Tools from "../../../src/runtime/Tools.js"
import { field, memory, open, serverLayer, webSocket } from "../../support/Harness.js"

/** Collects a job's events in the background; `until` waits for the next one matching. */
const follow = (events: Stream.Stream<Decoded>) =>
  Effect.gen(function*() {
    const seen: Array<Decoded> = []
    const queue = yield* Queue.unbounded<Decoded>()
    yield* events.pipe(
      Stream.runForEach((m) => Effect.zipRight(Effect.sync(() => seen.push(m)), Queue.offer(queue, m))),
      Effect.forkScoped
    )
    const until = (matches: (m: Decoded) => boolean): Effect.Effect<Decoded> =>
      Effect.flatMap(Queue.take(queue), (m) => (matches(m) ? Effect.succeed(m) : until(matches)))
    return { seen, until }
  })

const ofType = (type: string) => (m: Decoded) => m.type === type
const terminal = (m: Decoded) => Client.terminalTypes.has(m.type)
const streamEvents = (seen: ReadonlyArray<Decoded>) => seen.filter((m) => m.type.startsWith("stream."))
const refusalOf = (m: Decoded) => (m.type === "cancel.refused" ? field(m, "reason") : m.type)

/** Opens a text stream, writes once, waits for `gate`, then reports what later writes and close answered. */
const makeProbe = Effect.map(Deferred.make<void>(), (gate) => ({
  gate,
  tool: Tools.make({
    name: "probe",
    parameters: Tools.AnyArguments,
    handler: (_, ctx) =>
      Effect.gen(function*() {
        const writer = yield* ctx.stream({ kind: "text" })
        yield* writer.write("before")
        yield* Deferred.await(gate)
        const write = yield* Effect.either(writer.write("after"))
        const close = yield* Effect.either(writer.close())
        return {
          write: Either.isLeft(write) ? write.left.code : "ok",
          close: Either.isLeft(close) ? close.left.code : "ok"
        }
      })
  })
}))

/** Opens text, binary and event streams and interleaves them; leaves them open unless told to close, fails if told. */
const mixed = Tools.make({
  name: "mixed",
  parameters: Tools.AnyArguments,
  handler: (args, ctx) =>
    Effect.gen(function*() {
      const text = yield* ctx.stream({ kind: "text" })
      const bytes = yield* ctx.stream({ kind: "binary", content_type: "image/png" })
      const events = yield* ctx.stream({ kind: "event" })
      yield* text.write("a")
      yield* bytes.write(new Uint8Array([0, 1, 2, 255]))
      yield* events.write({ step: 1 })
      yield* text.write("b")
      yield* bytes.write(new Uint8Array([104, 105]))
      if (args["close"] === true) yield* Effect.all([text.close(), bytes.close("done"), events.close()])
      if (args["fail"] === true) return yield* ArcpError.of("UNAVAILABLE", "backend went away")
      return "ok"
    })
})

/** A thought stream with one plain and one redacted chunk (§11.4). */
const thinker = Tools.make({
  name: "thinker",
  parameters: Tools.AnyArguments,
  handler: (_, ctx) =>
    Effect.gen(function*() {
      const thoughts = yield* ctx.stream({ kind: "thought" })
      yield* thoughts.write("Considering whether to read the config first")
      yield* thoughts.write({ content: "", redacted: true })
      yield* thoughts.close()
    })
})

const server = (tools: ReadonlyArray<Tools.Tool> = []) =>
  serverLayer({ transport: memory, tools: [mixed, thinker, ...tools] })

const cancelStream = (session: Client.Session, streamId: string, reason?: string) =>
  session.request("cancel", { target: "stream", target_id: streamId, ...(reason !== undefined ? { reason } : {}) })

describe("streams (memory, TestClock)", () => {
  it.scoped("R11.1-1 R4.2-1 R10.1-5 a tool streams text: stream.open with its kind, ordered stream.chunk with sequence, stream.close, then the terminal", () =>
    Effect.gen(function*() {
      const session = yield* open()
      const job = yield* session.invoke("stream", { chunks: 3, interval_ms: 1000 })
      const { seen, until } = yield* follow(job.events)
      const opened = yield* until(ofType("stream.open"))
      assert.deepStrictEqual(opened.payload, {
        kind: "text",
        content_type: "text/plain",
        encoding: "utf-8",
        related_job_id: job.jobId
      })
      for (let sequence = 0; sequence < 3; sequence++) {
        yield* TestClock.adjust("1 second")
        const chunk = yield* until(ofType("stream.chunk"))
        assert.deepStrictEqual(chunk.payload, { sequence, data: `chunk ${sequence + 1} of 3\n` })
      }
      yield* until(terminal)
      const types = seen.filter((m) => m.type.startsWith("stream.") || terminal(m)).map((m) => m.type)
      assert.deepStrictEqual(types, [
        "stream.open",
        "stream.chunk",
        "stream.chunk",
        "stream.chunk",
        "stream.close",
        "tool.result"
      ])
      assert.isTrue(
        streamEvents(seen).every((m) => m.stream_id === opened.stream_id && m.job_id === job.jobId),
        "every stream event carries stream_id and job_id"
      )
      assert.deepStrictEqual(seen.find(ofType("stream.close"))?.payload, { total_chunks: 3 })
      assert.deepStrictEqual(seen.at(-1)?.payload, { value: { chunks: 3 } })
    }).pipe(Effect.provide(server())))

  it.scoped("R11-1 R11.3-1 R11.3-5 R4.2-2 one job multiplexes text, binary (base64 with content_type) and event streams", () =>
    Effect.gen(function*() {
      const session = yield* open()
      const job = yield* session.invoke("mixed", { close: true })
      const { seen, until } = yield* follow(job.events)
      yield* until(terminal)
      const opens = seen.filter(ofType("stream.open"))
      assert.deepStrictEqual(opens.map((m) => field(m, "kind")), ["text", "binary", "event"])
      assert.strictEqual(new Set(opens.map((m) => m.stream_id)).size, 3)
      const [text, binary, event] = opens.map((o) =>
        streamEvents(seen).filter((m) => m.stream_id === o.stream_id && m.type === "stream.chunk")
      )
      assert.deepStrictEqual(text?.map((m) => m.payload), [{ sequence: 0, data: "a" }, { sequence: 1, data: "b" }])
      assert.deepStrictEqual(binary?.map((m) => m.payload), [
        { sequence: 0, data: "AAEC/w==", encoding: "base64", content_type: "image/png" },
        { sequence: 1, data: "aGk=", encoding: "base64", content_type: "image/png" }
      ])
      assert.deepStrictEqual(event?.map((m) => m.payload), [{ sequence: 0, event: { step: 1 } }])
      assert.deepStrictEqual(field(opens[1], "encoding"), "base64")
      // interleaved on the wire: the streams share the job's ordered lane
      const chunkOrder = seen.filter(ofType("stream.chunk")).map((m) =>
        opens.findIndex((o) => o.stream_id === m.stream_id)
      )
      assert.deepStrictEqual(chunkOrder, [0, 1, 2, 0, 1])
      assert.deepStrictEqual(seen.filter(ofType("stream.close")).map((m) => m.payload), [{ total_chunks: 2 }, {
        total_chunks: 2,
        reason: "done"
      }, { total_chunks: 1 }])
    }).pipe(Effect.provide(server())))

  it.scoped("R11.4-1 R11.4-2 R4.2-6 thought chunks are structured; redacted reasoning is still emitted with redacted: true", () =>
    Effect.gen(function*() {
      const session = yield* open()
      const job = yield* session.invoke("thinker", {})
      const { seen, until } = yield* follow(job.events)
      yield* until(terminal)
      assert.strictEqual(field(seen.find(ofType("stream.open")), "kind"), "thought")
      assert.deepStrictEqual(seen.filter(ofType("stream.chunk")).map((m) => m.payload), [
        {
          sequence: 0,
          role: "assistant_thought",
          content: "Considering whether to read the config first",
          redacted: false
        },
        { sequence: 1, role: "assistant_thought", content: "", redacted: true }
      ])
    }).pipe(Effect.provide(server())))

  it.scoped("R10.4-2 R10.4-4 cancel of a stream: cancel.accepted, then stream.error CANCELLED; the job runs on to its own terminal", () =>
    Effect.gen(function*() {
      const session = yield* open()
      const job = yield* session.invoke("stream", { chunks: 5, interval_ms: 1000 })
      const { seen, until } = yield* follow(job.events)
      const opened = yield* until(ofType("stream.open"))
      for (let i = 0; i < 2; i++) {
        yield* TestClock.adjust("1 second")
        yield* until(ofType("stream.chunk"))
      }
      const answer = yield* cancelStream(session, opened.stream_id ?? "", "user_aborted")
      assert.strictEqual(answer.type, "cancel.accepted")
      assert.deepStrictEqual(answer.payload, { target: "stream", target_id: opened.stream_id })
      const error = yield* until(ofType("stream.error"))
      assert.strictEqual(field(error, "code"), "CANCELLED")
      assert.strictEqual(error.stream_id, opened.stream_id)
      assert.strictEqual(error.causation_id, answer.correlation_id, "caused by the cancel")
      yield* TestClock.adjust("1 second")
      const end = yield* until(terminal)
      assert.strictEqual(end.type, "tool.result", "a stream cancel is not a job cancel")
      assert.deepStrictEqual(end.payload, { value: { chunks: 2 } })
      const types = seen.map((m) => m.type)
      assert.isBelow(types.indexOf("cancel.accepted"), types.indexOf("stream.error"))
      assert.deepStrictEqual(streamEvents(seen).map((m) => m.type), [
        "stream.open",
        "stream.chunk",
        "stream.chunk",
        "stream.error"
      ])
    }).pipe(Effect.provide(server())))

  it.scoped("R10.4-4 after a stream cancel the handler's writes and close fail CANCELLED, and it decides how its job ends", () =>
    Effect.gen(function*() {
      const probe = yield* makeProbe
      yield* Effect.gen(function*() {
        const session = yield* open()
        const job = yield* session.invoke("probe", {})
        const { seen, until } = yield* follow(job.events)
        const opened = yield* until(ofType("stream.open"))
        yield* until(ofType("stream.chunk"))
        assert.strictEqual((yield* cancelStream(session, opened.stream_id ?? "")).type, "cancel.accepted")
        yield* until(ofType("stream.error"))
        yield* Deferred.succeed(probe.gate, undefined)
        assert.deepStrictEqual(yield* job.outcome, { write: "CANCELLED", close: "CANCELLED" })
        assert.deepStrictEqual(streamEvents(seen).map((m) => m.type), ["stream.open", "stream.chunk", "stream.error"])
      }).pipe(Effect.provide(server([probe.tool])))
    }))

  it.scoped("R10.4-8 cancel of an unknown stream is refused not_found; of an ended one already_terminal; of another session's not_found", () =>
    Effect.gen(function*() {
      const probe = yield* makeProbe
      yield* Effect.gen(function*() {
        const session = yield* open()
        const refusal = (m: Decoded) => [m.type, field(m, "reason")]
        assert.deepStrictEqual(refusal(yield* cancelStream(session, "str_nope")), ["cancel.refused", "not_found"])

        const done = yield* session.invoke("stream", { chunks: 1 })
        const finished = yield* follow(done.events)
        const closed = yield* finished.until(ofType("stream.close"))
        yield* finished.until(terminal)
        assert.deepStrictEqual(refusal(yield* cancelStream(session, closed.stream_id ?? "")), [
          "cancel.refused",
          "already_terminal"
        ])

        const live = yield* session.invoke("probe", {})
        const opened = yield* (yield* follow(live.events)).until(ofType("stream.open"))
        const sameUser = yield* open()
        const bob = yield* open({ credentials: { scheme: "bearer", token: "other-token" } })
        assert.deepStrictEqual(refusal(yield* cancelStream(sameUser, opened.stream_id ?? "")), [
          "cancel.refused",
          "not_found"
        ])
        assert.deepStrictEqual(refusal(yield* cancelStream(bob, opened.stream_id ?? "")), [
          "cancel.refused",
          "not_found"
        ])
        assert.strictEqual(
          (yield* cancelStream(session, opened.stream_id ?? "")).type,
          "cancel.accepted",
          "still open for its owner"
        )
        assert.deepStrictEqual(refusal(yield* cancelStream(session, opened.stream_id ?? "")), [
          "cancel.refused",
          "already_terminal"
        ])
        yield* Deferred.succeed(probe.gate, undefined)
        yield* live.outcome
      }).pipe(Effect.provide(server([probe.tool])))
    }))

  it.scoped("R10.4-3 R10.4-4 a job cancel ends its open streams with stream.error CANCELLED before job.cancelled", () =>
    Effect.gen(function*() {
      const session = yield* open()
      const job = yield* session.invoke("stream", { chunks: 5, interval_ms: 1000 })
      const { seen, until } = yield* follow(job.events)
      const opened = yield* until(ofType("stream.open"))
      yield* TestClock.adjust("1 second")
      yield* until(ofType("stream.chunk"))
      assert.strictEqual((yield* job.cancel()).type, "cancel.accepted")
      yield* until(terminal)
      const types = seen.map((m) => m.type)
      const error = seen.find(ofType("stream.error"))
      assert.strictEqual(field(error, "code"), "CANCELLED")
      assert.strictEqual(error?.stream_id, opened.stream_id)
      assert.isBelow(types.indexOf("stream.error"), types.indexOf("job.cancelled"))
      assert.strictEqual(seen.at(-1)?.type, "job.cancelled")
      assert.deepStrictEqual(refusalOf(yield* cancelStream(session, opened.stream_id ?? "")), "already_terminal")
    }).pipe(Effect.provide(server())))

  it.scoped("R11.1-1 streams still open when the job ends are closed on success and errored with its code on failure, before the terminal", () =>
    Effect.gen(function*() {
      const session = yield* open()
      const ok = yield* session.invoke("mixed", {})
      const okEvents = yield* follow(ok.events)
      yield* okEvents.until(terminal)
      const okTypes = okEvents.seen.map((m) => m.type)
      assert.strictEqual(okTypes.filter((t) => t === "stream.close").length, 3)
      assert.isBelow(okTypes.lastIndexOf("stream.close"), okTypes.indexOf("tool.result"))

      const failing = yield* session.invoke("mixed", { fail: true })
      const failEvents = yield* follow(failing.events)
      yield* failEvents.until(terminal)
      const errors = failEvents.seen.filter(ofType("stream.error"))
      assert.deepStrictEqual(errors.map((m) => field(m, "code")), ["UNAVAILABLE", "UNAVAILABLE", "UNAVAILABLE"])
      assert.strictEqual(failEvents.seen.at(-1)?.type, "tool.error")
      assert.isFalse(failEvents.seen.some(ofType("stream.close")))
    }).pipe(Effect.provide(server())))
})

describe("streams over WebSocket", () => {
  const withWs = <A, E>(
    tools: ReadonlyArray<Tools.Tool>,
    body: Effect.Effect<A, E, Scope.Scope | Layer.Layer.Success<ReturnType<typeof serverLayer>>>
  ) => body.pipe(Effect.provide(serverLayer({ transport: webSocket, tools: [mixed, ...tools] })))

  it.scopedLive("R11-1 R11.3-1 R11.3-5 R10.4-2 R10.4-4 text and base64 binary chunks, then a stream cancel answered and ended with stream.error CANCELLED", () =>
    Effect.gen(function*() {
      const probe = yield* makeProbe
      yield* withWs(
        [probe.tool],
        Effect.gen(function*() {
          const session = yield* open()
          const mixedJob = yield* session.invoke("mixed", { close: true })
          const mixedEvents = yield* follow(mixedJob.events)
          yield* mixedEvents.until(terminal)
          const binary = mixedEvents.seen.filter((m) => m.type === "stream.chunk" && field(m, "encoding") === "base64")
          assert.deepStrictEqual(binary.map((m) => field(m, "data")), ["AAEC/w==", "aGk="])

          const job = yield* session.invoke("probe", {})
          const { seen, until } = yield* follow(job.events)
          const opened = yield* until(ofType("stream.open"))
          yield* until(ofType("stream.chunk"))
          const answer = yield* cancelStream(session, opened.stream_id ?? "")
          assert.strictEqual(answer.type, "cancel.accepted")
          assert.strictEqual(field(yield* until(ofType("stream.error")), "code"), "CANCELLED")
          yield* Deferred.succeed(probe.gate, undefined)
          const end = yield* until(terminal)
          assert.deepStrictEqual(end.payload, { value: { write: "CANCELLED", close: "CANCELLED" } })
          assert.deepStrictEqual(streamEvents(seen).map((m) => m.type), ["stream.open", "stream.chunk", "stream.error"])
        })
      )
    }))
})
