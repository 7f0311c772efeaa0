/**
 * One job must not starve everyone else (issue 7 part 4): a client that stops
 * reading holds its jobs back within a bounded buffer, loses nothing, and past
 * the deadlines gets the RFC's overflow answers; a hot job leaves room for
 * handshakes and pings.
 */
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Deferred, Effect, Either, Fiber, Option, Queue, Schema, Stream, Take, TestClock } from "effect"
import { WebSocket as RawWebSocket } from "ws"
import { make as makeEnvelope } from "../../../src/protocol/Envelope.js"
import { SessionId } from "../../../src/protocol/Ids.js"
import { type Decoded, decodeJson, encodeUnchecked } from "../../../src/protocol/Message.js"
import { Sessions } from "../../../src/runtime/Sessions.js"
import * as Tools from "../../../src/runtime/Tools.js"
import { EventLog } from "../../../src/store/EventLog.js"
import type { Connection } from "../../../src/transport/Transport.js"
import { Acceptor } from "../../../src/transport/Transport.js"
import { dial, field, memory, open, serverLayer, TOKEN, webSocket } from "../../support/Harness.js"

/** A raw reader that can stop reading: paused, it takes nothing off the connection. */
const pausableReader = (connection: Connection) =>
  Effect.gen(function*() {
    const queue = yield* Queue.unbounded<Decoded>()
    const latch = yield* Effect.makeLatch(true)
    const ended = yield* Deferred.make<void>()
    yield* connection.incoming.pipe(
      Stream.runForEach((frame) =>
        latch.await.pipe(Effect.zipRight(Effect.suspend(() => {
          if (frame._tag !== "Text") return Effect.void
          const decoded = decodeJson(frame.text)
          return Either.isRight(decoded) ? Queue.offer(queue, decoded.right) : Effect.void
        })))
      ),
      Effect.ignore,
      Effect.zipRight(Deferred.succeed(ended, undefined)),
      Effect.forkScoped
    )
    const until = (match: (m: Decoded) => boolean) =>
      Effect.gen(function*() {
        while (true) {
          const m = yield* Queue.take(queue)
          if (match(m)) return m
        }
      })
    return { queue, pause: latch.close, resume: latch.open, ended, until }
  })

/**
 * Waits until a job waits for room with the transport holding its share and nothing left to commit (a commit
 * in flight would still move its envelope on to the socket): nothing moves until the client reads.
 */
const stuck = (sessionId: string, waiting: number) =>
  Effect.gen(function*() {
    const handle = yield* Effect.flatMap(Sessions, (s) => s.get(SessionId.make(sessionId)))
    if (Option.isNone(handle)) return yield* Effect.dieMessage("no such session")
    const { buffer } = handle.value
    return yield* Effect.repeat(Effect.zipRight(buffer.backedUp, buffer.usage), {
      until: (u) => u.waiting >= waiting && u.transportBytes > 0 && u.uncommitted === 0
    })
  })

/** A tool that only reports progress, `count` times. */
const REPORTS = 3000
const reporter = Tools.make({
  name: "reporter",
  parameters: Schema.Struct({ count: Schema.Number }),
  handler: ({ count }, ctx) =>
    Effect.gen(function*() {
      for (let current = 1; current <= count; current++) yield* ctx.progress({ current, total: count })
      return { count }
    })
})

const progressOf = (messages: ReadonlyArray<Decoded>, jobId: string | undefined) =>
  messages.filter((m) => m.job_id === jobId && m.type === "job.progress").map((m) => field(m, "current"))

describe("backpressure", () => {
  const limits = {
    maxOutboundBytes: 64 * 1024,
    maxOutboundEnvelopes: 256,
    backpressureTimeout: "10 seconds",
    stalledReaderTimeout: "30 seconds"
  } as const

  it.scoped(
    "R11-2 R8.5-1 R8.5-2 R18.2-1 a client that stops reading: jobs suspend within the buffer, a stream overflows, the session is evicted; nothing is dropped",
    () =>
      Effect.gen(function*() {
        const connection = yield* dial
        const read = yield* pausableReader(connection)
        const send = (envelope: Decoded) => connection.send(encodeUnchecked(envelope))
        yield* send(
          yield* makeEnvelope("session.open", {
            auth: { scheme: "bearer", token: TOKEN },
            client: { kind: "raw", version: "1" },
            capabilities: {}
          })
        )
        const sessionId = (yield* read.until((m) => m.type === "session.accepted")).session_id ?? ""
        const header = { session_id: SessionId.make(sessionId) }
        const streaming = yield* makeEnvelope("tool.invoke", { tool: "stream", arguments: { chunks: 100_000 } }, header)
        yield* send(streaming)
        const streamJob = (yield* read.until((m) => m.type === "job.accepted")).job_id
        yield* read.pause
        const ticking = yield* makeEnvelope("tool.invoke", { tool: "ticker", arguments: { count: 100_000 } }, header)
        yield* send(ticking)

        // both jobs wait for room; the buffer (queued + unread by the client) stays within its limits
        const held = yield* stuck(sessionId, 2)
        assert.isAtMost(held.envelopes, limits.maxOutboundEnvelopes)
        assert.isAtMost(held.bytes, limits.maxOutboundBytes + 4 * 1024)
        // suspended, not busy: five seconds on, nothing more was produced
        yield* TestClock.adjust("5 seconds")
        const later = yield* stuck(sessionId, 2)
        assert.deepStrictEqual([later.envelopes, later.bytes], [held.envelopes, held.bytes])

        // past --backpressure-timeout the stream is dropped; past --stalled-reader-timeout the session is evicted
        yield* TestClock.adjust("6 seconds")
        yield* TestClock.adjust("20 seconds")
        yield* read.resume
        yield* Deferred.await(read.ended)
        const seen = Array.from(yield* Queue.takeAll(read.queue))
        const streamError = seen.find((m) => m.type === "stream.error" && m.job_id === streamJob)
        assert.strictEqual(field(streamError, "code"), "BACKPRESSURE_OVERFLOW")
        const streamEnd = seen.find((m) => m.type === "tool.error" && m.job_id === streamJob)
        assert.strictEqual(field(streamEnd, "code"), "BACKPRESSURE_OVERFLOW")
        const evicted = seen.find((m) => m.type === "session.evicted")
        assert.strictEqual(field(evicted, "reason"), "BACKPRESSURE_OVERFLOW")
        // every event the ticker got out reached the client, in order, none skipped
        const tickerJob = seen.find((m) => m.type === "job.accepted" && m.correlation_id === ticking.id)?.job_id
        const ticks = progressOf(seen, tickerJob)
        assert.isAbove(ticks.length, 0)
        assert.isBelow(ticks.length, 100_000)
        assert.deepStrictEqual(ticks, Array.from({ length: ticks.length }, (_, i) => i + 1))
        const chunks = seen.filter((m) => m.type === "stream.chunk" && m.job_id === streamJob)
        assert.deepStrictEqual(chunks.map((m) => field(m, "sequence")), chunks.map((_, i) => i))
        assert.isTrue(Option.isNone(yield* (yield* Sessions).get(SessionId.make(sessionId))), "the session is gone")
      }).pipe(Effect.provide(serverLayer({ transport: memory, runtime: limits }))),
    60_000
  )

  it.scopedLive(
    "R11-2 R4.1-2 over a real WebSocket a paused reader holds a 100k ticker within the buffer; resumed, it gets every event",
    () =>
      Effect.gen(function*() {
        const { address } = yield* Acceptor
        const messages: Array<Decoded> = []
        const accepted = yield* Deferred.make<Decoded>()
        const done = yield* Deferred.make<void>()
        const ws = yield* Effect.acquireRelease(
          Effect.sync(() => new RawWebSocket(address)),
          (socket) => Effect.sync(() => socket.terminate())
        )
        ws.on("message", (data) => {
          const decoded = decodeJson(String(data))
          if (Either.isLeft(decoded)) return
          messages.push(decoded.right)
          if (decoded.right.type === "session.accepted") Deferred.unsafeDone(accepted, Effect.succeed(decoded.right))
          if (decoded.right.type === "tool.result") Deferred.unsafeDone(done, Effect.void)
        })
        yield* Effect.async<void>((resume) => {
          ws.once("open", () => resume(Effect.void))
        })
        const sendFrame = (envelope: Decoded) => Effect.sync(() => ws.send(encodeUnchecked(envelope)))
        yield* sendFrame(
          yield* makeEnvelope("session.open", {
            auth: { scheme: "bearer", token: TOKEN },
            client: { kind: "raw", version: "1" },
            capabilities: {}
          })
        )
        const sessionId = (yield* Deferred.await(accepted)).session_id ?? ""
        // stop reading the socket: the kernel's buffers fill, then the runtime's
        ws.pause()
        yield* sendFrame(
          yield* makeEnvelope("tool.invoke", { tool: "ticker", arguments: { count: 100_000 } }, {
            session_id: SessionId.make(sessionId)
          })
        )
        const held = yield* stuck(sessionId, 1)
        assert.isAtMost(held.bytes, 256 * 1024 + 4 * 1024)
        assert.isAtMost(held.envelopes, 1024)
        const running = yield* Effect.flatMap(EventLog, (log) => log.unfinishedJobs)
        assert.deepStrictEqual(running.map((j) => [j.tool, j.state]), [["ticker", "running"]])
        ws.resume()
        yield* Deferred.await(done)
        const ticks = messages.filter((m) => m.type === "job.progress").map((m) => field(m, "current"))
        assert.strictEqual(ticks.length, 100_000)
        assert.deepStrictEqual(ticks, Array.from({ length: 100_000 }, (_, i) => i + 1))
      }).pipe(
        Effect.provide(
          serverLayer({
            transport: webSocket,
            runtime: { maxOutboundBytes: 256 * 1024, maxOutboundEnvelopes: 1024, stalledReaderTimeout: "10 minutes" }
          })
        )
      ),
    120_000
  )

  it.scopedLive(
    "R4.1-2 a new WebSocket handshake and a ping complete while an unthrottled 100k ticker runs",
    () =>
      Effect.gen(function*() {
        const busy = yield* open()
        const job = yield* busy.invoke("ticker", { count: 100_000 })
        const outcome = yield* Effect.fork(job.outcome)
        yield* job.events.pipe(Stream.filter((m) => m.type === "job.progress"), Stream.take(1), Stream.runDrain)
        // a second client gets its session and a pong while the ticker is still emitting
        yield* Effect.scoped(Effect.flatMap(open(), (other) => other.ping))
        yield* busy.ping
        assert.isTrue(Option.isNone(yield* Fiber.poll(outcome)), "the ticker was still running")
        yield* job.cancel()
      }).pipe(Effect.provide(serverLayer({ transport: webSocket }))),
    60_000
  )

  it.scopedLive(
    "R6.5-3 R11.2-3 a low-priority job's progress is shed from a stopped reader's wire, not from the log; the job is not held back",
    () =>
      Effect.gen(function*() {
        const connection = yield* dial
        const read = yield* pausableReader(connection)
        const send = (envelope: Decoded) => connection.send(encodeUnchecked(envelope))
        yield* send(
          yield* makeEnvelope("session.open", {
            auth: { scheme: "bearer", token: TOKEN },
            client: { kind: "raw", version: "1" },
            capabilities: {}
          })
        )
        const sessionId = (yield* read.until((m) => m.type === "session.accepted")).session_id ?? ""
        yield* read.pause
        // the same principal watches for the result on another connection (live, results only)
        const observer = yield* open()
        const results = yield* observer.subscribe({ session_id: [sessionId], types: ["tool.result"] }).pipe(
          Stream.toQueue()
        )
        const invoke = yield* makeEnvelope("tool.invoke", { tool: "reporter", arguments: { count: REPORTS } }, {
          session_id: SessionId.make(sessionId),
          priority: "low"
        })
        yield* send(invoke)
        // the job ends while nobody reads: its progress did not wait for the socket
        // (Stream.toQueue passes empty chunks on too: wait for the first delivery that holds an event)
        let delivered = Chunk.empty<Decoded>()
        while (Chunk.isEmpty(delivered)) delivered = yield* Effect.orDie(Take.done(yield* Queue.take(results)))
        yield* read.resume
        const seen: Array<Decoded> = []
        while (seen.at(-1)?.type !== "tool.result") seen.push(yield* Queue.take(read.queue))
        const result = seen[seen.length - 1] ?? (yield* Effect.dieMessage("no result"))
        const written = progressOf(seen, result.job_id)
        assert.isAbove(written.length, 0)
        assert.isBelow(written.length, REPORTS, "some progress was shed")
        assert.deepStrictEqual(written, [...written].sort((a, b) => Number(a) - Number(b)), "in order")
        // every report is in the log: another session's subscription backfills all of them
        const observed = yield* observer.subscribe({ job_id: [result.job_id ?? ""] }, {}).pipe(
          Stream.takeUntil((m) => m.type === "tool.result"),
          Stream.runCollect
        )
        assert.strictEqual(progressOf(Array.from(observed), result.job_id).length, REPORTS)
      }).pipe(Effect.provide(serverLayer({ transport: memory, runtime: limits, tools: [reporter] }))),
    60_000
  )
})
