/**
 * A client's `backpressure` slows a stream's writer (RFC §11.2), the demo tool
 * `stream` of every kind, and redacted reasoning (§11.4); memory transport under TestClock.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Encoding, Queue, Stream, TestClock } from "effect"
import * as Client from "../../../src/client/Client.js"
import { StreamId } from "../../../src/protocol/Ids.js"
import type { Decoded } from "../../../src/protocol/Message.js"
import * as Tools from "../../../src/runtime/Tools.js"
import { field, memory, open, serverLayer } from "../../support/Harness.js"

/** Reasoning that is redacted: empty content, or a summary. */
const redacting = Tools.make({
  name: "redacting",
  parameters: Tools.AnyArguments,
  handler: (args, ctx) =>
    Effect.gen(function*() {
      const summarize = args["summarize"] === true
      const writer = yield* ctx.stream({
        kind: "thought",
        redact: summarize ? (content: string) => `(${content.length} characters of reasoning)` : true
      })
      yield* writer.write("the secret plan is to read the config first")
      yield* writer.write({ content: "then patch it" })
      yield* writer.close()
      return "done"
    })
})

const server = serverLayer({ transport: memory, tools: [redacting] })

const follow = (events: Stream.Stream<Decoded>) =>
  Effect.gen(function*() {
    const queue = yield* Queue.unbounded<Decoded>()
    yield* events.pipe(Stream.runForEach((m) => Queue.offer(queue, m)), Effect.forkScoped)
    const until = (matches: (m: Decoded) => boolean): Effect.Effect<Decoded> =>
      Effect.flatMap(Queue.take(queue), (m) => (matches(m) ? Effect.succeed(m) : until(matches)))
    return { queue, until }
  })

const untilTerminal = (events: Stream.Stream<Decoded>) =>
  Stream.runCollect(Stream.takeUntil(events, (m) => Client.terminalTypes.has(m.type))).pipe(
    Effect.map((chunk) => [...chunk])
  )

const chunksOf = (seen: ReadonlyArray<Decoded>) => seen.filter((m) => m.type === "stream.chunk")

describe("stream demo tool and backpressure", () => {
  it.scoped("the stream demo tool sends one chunk per string for text, log, thought and binary, then {chunks}", () =>
    Effect.gen(function*() {
      const session = yield* open()
      for (const kind of ["text", "log", "thought", "binary"] as const) {
        const job = yield* session.invoke("stream", { kind, chunks: ["alpha", "beta"] })
        const seen = yield* untilTerminal(job.events)
        const opened = seen.find((m) => m.type === "stream.open")
        assert.strictEqual(field(opened, "kind"), kind)
        const chunks = chunksOf(seen).map((m) => m.payload)
        assert.strictEqual(chunks.length, 2, kind)
        switch (kind) {
          case "text":
            assert.deepStrictEqual(chunks, [{ sequence: 0, data: "alpha" }, { sequence: 1, data: "beta" }])
            break
          case "log":
            assert.deepStrictEqual(chunks.map((c) => Reflect.get(c, "data")), ["alpha", "beta"])
            break
          case "thought":
            assert.deepStrictEqual(chunks[0], {
              sequence: 0,
              role: "assistant_thought",
              content: "alpha",
              redacted: false
            })
            break
          case "binary":
            assert.deepStrictEqual(chunks[1], {
              sequence: 1,
              data: Encoding.encodeBase64("beta"),
              encoding: "base64",
              content_type: "application/octet-stream"
            })
            break
        }
        assert.deepStrictEqual(field(seen.find((m) => m.type === "stream.close"), "total_chunks"), 2)
        assert.deepStrictEqual(seen.at(-1)?.payload, { value: { chunks: 2 } })
      }
    }).pipe(Effect.provide(server)))

  it.scoped("R11.4-2 a redacting tool still emits every thought chunk, redacted: true with empty or summarized content", () =>
    Effect.gen(function*() {
      const session = yield* open()
      const empty = chunksOf(yield* untilTerminal((yield* session.invoke("redacting", {})).events))
      assert.deepStrictEqual(empty.map((m) => m.payload), [
        { sequence: 0, role: "assistant_thought", content: "", redacted: true },
        { sequence: 1, role: "assistant_thought", content: "", redacted: true }
      ])
      const summarized = chunksOf(
        yield* untilTerminal((yield* session.invoke("redacting", { summarize: true })).events)
      )
      assert.deepStrictEqual(summarized.map((m) => field(m, "content")), [
        "(43 characters of reasoning)",
        "(13 characters of reasoning)"
      ])
      assert.isTrue(summarized.every((m) => field(m, "redacted") === true))
    }).pipe(Effect.provide(server)))

  it.scoped("R11.2-1 R11.2-2 backpressure paces a stream's writer to desired_rate_per_second; 0 pauses, a later one resumes", () =>
    Effect.gen(function*() {
      const session = yield* open()
      const strings = Array.from({ length: 40 }, (_, i) => `c${i}`)
      const job = yield* session.invoke("stream", { kind: "text", chunks: strings, interval_ms: 10 })
      const { queue, until } = yield* follow(job.events)
      const opened = yield* until((m) => m.type === "stream.open")
      const streamId = StreamId.make(opened.stream_id ?? "")
      yield* session.send("backpressure", { desired_rate_per_second: 2, buffer_remaining_bytes: 1024 }, {
        stream_id: streamId
      })
      // the signal is applied before the next chunk: a ping after it is answered once it is handled
      yield* session.ping
      const countChunks = Effect.map(Queue.takeAll(queue), (all) => [...all].filter((m) => m.type === "stream.chunk"))
      yield* countChunks
      // at 2 per second, 5 seconds let about 10 chunks go, far fewer than the 500 an unpaced 10 ms writer would
      let paced = 0
      for (let i = 0; i < 50; i++) {
        yield* TestClock.adjust("100 millis")
        paced += (yield* countChunks).length
      }
      assert.isAtLeast(paced, 9)
      assert.isAtMost(paced, 11)
      // paused
      yield* session.send("backpressure", { desired_rate_per_second: 0 }, { stream_id: streamId })
      yield* session.ping
      yield* TestClock.adjust("1 second")
      yield* countChunks
      yield* TestClock.adjust("5 seconds")
      assert.strictEqual((yield* countChunks).length, 0, "nothing while paused")
      // lifted: the rest go at the tool's own pace
      yield* session.send("backpressure", {}, { stream_id: streamId })
      yield* session.ping
      yield* TestClock.adjust("10 seconds")
      const terminal = yield* until((m) => Client.terminalTypes.has(m.type))
      assert.deepStrictEqual(terminal.payload, { value: { chunks: 40 } })
    }).pipe(Effect.provide(server)))

  it.scoped("R11.2-3 a session-wide backpressure slows low-priority streams first; a high-priority stream keeps its pace", () =>
    Effect.gen(function*() {
      const session = yield* open()
      const strings = Array.from({ length: 20 }, (_, i) => `c${i}`)
      const low = yield* session.invoke("stream", { kind: "text", chunks: strings, interval_ms: 100 }, {
        priority: "low"
      })
      const high = yield* session.invoke("stream", { kind: "text", chunks: strings, interval_ms: 100 }, {
        priority: "high"
      })
      const lowSeen = yield* follow(low.events)
      const highSeen = yield* follow(high.events)
      yield* lowSeen.until((m) => m.type === "stream.open")
      yield* highSeen.until((m) => m.type === "stream.open")
      yield* session.send("backpressure", { desired_rate_per_second: 1, reason: "render queue full" })
      yield* session.ping
      yield* TestClock.adjust("2100 millis")
      const highDone = yield* highSeen.until((m) => Client.terminalTypes.has(m.type))
      assert.deepStrictEqual(highDone.payload, { value: { chunks: 20 } })
      const lowChunks = [...(yield* Queue.takeAll(lowSeen.queue))].filter((m) => m.type === "stream.chunk")
      assert.isAtMost(lowChunks.length, 4, "the low-priority stream goes at about 1 per second")
    }).pipe(Effect.provide(server)))

  it.scoped("R11.2-1 backpressure naming a stream this session cannot see is refused NOT_FOUND", () =>
    Effect.gen(function*() {
      const session = yield* open()
      const error = yield* Effect.flip(
        session.request("backpressure", { desired_rate_per_second: 1 }, { stream_id: StreamId.make("str_nope") })
      )
      assert.strictEqual(error._tag === "ArcpError" ? error.code : error._tag, "NOT_FOUND")
    }).pipe(Effect.provide(server)))
})
