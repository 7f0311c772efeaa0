/** The outbound path: priority across jobs, FIFO within a job, flush (RFC §6.5). */
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Deferred, Effect, Fiber, Option, Stream, TestClock } from "effect"
import { make as makeEnvelope, type Priority } from "../../../src/protocol/Envelope.js"
import { JobId, SessionId } from "../../../src/protocol/Ids.js"
import type { Decoded } from "../../../src/protocol/Message.js"
import * as Outbound from "../../../src/runtime/outbound/Outbound.js"
import * as Memory from "../../../src/transport/Memory.js"
import type { Connection } from "../../../src/transport/Transport.js"

/** A connection that holds every write until `open` completes. */
const gatedConnection = Effect.gen(function*() {
  const open = yield* Deferred.make<void>()
  const written: Array<string> = []
  const connection: Connection = {
    label: "gated",
    binary: false,
    incoming: Stream.empty,
    send: (frame) =>
      Deferred.await(open).pipe(Effect.zipRight(Effect.sync(() => {
        written.push(String(frame))
      }))),
    close: Effect.void
  }
  return { connection, open, written }
})

/** A low-priority job reporting progress in a tight loop, as a job does (waiting for shedding room only). */
const lowProgress = (outbound: Outbound.Outbound, count: number) =>
  Effect.forEach(Array.from({ length: count }, (_, i) => i), (i) =>
    Effect.zipRight(
      outbound.sheddingRoom,
      outbound.emit("job.progress", { current: i }, { job_id: JobId.make("job_low"), priority: "low" })
    ), { discard: true })

describe("outbound path", () => {
  it.scoped("R6.5-1 R6.5-2 R6.5-4 serves higher priorities first across jobs, never reorders within a job", () =>
    Effect.gen(function*() {
      const { connection, open, written } = yield* gatedConnection
      const outbound = yield* Outbound.make(connection)
      const event = (name: string, priority: Priority, job?: string) =>
        outbound.emit("event.emit", { name }, { priority, ...(job !== undefined ? { job_id: JobId.make(job) } : {}) })
      yield* event("L1", "low", "job_l")
      yield* event("N1", "normal", "job_n")
      yield* event("N2", "normal", "job_n")
      yield* event("C1", "critical", "job_n") // job_n's terminal: must not overtake N1, N2
      yield* event("H1", "high")
      yield* event("K1", "critical", "job_k")
      yield* Deferred.succeed(open, undefined)
      yield* outbound.flush
      const names = written.map((frame) => JSON.parse(frame).payload.name)
      assert.deepStrictEqual(names, ["K1", "H1", "N1", "N2", "C1", "L1"])
    }))

  it.scoped("the recorder sees every envelope before it is written; the writer writes what the bus hands back", () =>
    Effect.gen(function*() {
      const { connection, open, written } = yield* gatedConnection
      const recorded: Array<string> = []
      const outbound = yield* Outbound.make(connection, {
        // the bus hands back every envelope but e3 (as if another reader had its commit fail): e3 is not written
        record: (batch, inbox) =>
          Effect.sync(() => {
            assert.strictEqual(written.length + batch.length, recorded.length + batch.length)
            for (const { json } of batch) recorded.push(json)
            inbox(batch.filter((e) => Reflect.get(e.envelope.payload, "name") !== "e3"))
          })
      })
      yield* Deferred.succeed(open, undefined)
      for (let i = 0; i < 50; i++) yield* outbound.emit("event.emit", { name: `e${i}` })
      yield* outbound.flush
      assert.deepStrictEqual(recorded.filter((json) => !json.includes("\"e3\"")), written)
      assert.strictEqual(written.length, 49)
    }))

  it.scoped("an envelope sent with its JSON is recorded and written as that JSON, not encoded again", () =>
    Effect.gen(function*() {
      const { connection, open, written } = yield* gatedConnection
      const recorded: Array<string> = []
      const outbound = yield* Outbound.make(connection, {
        record: (batch, inbox) =>
          Effect.sync(() => {
            for (const { json } of batch) recorded.push(json)
            inbox(batch)
          })
      })
      const envelope = yield* makeEnvelope("event.emit", { name: "given" }, { session_id: SessionId.make("sess_json") })
      // the same envelope with its keys in another order: only the sender's own JSON has this text
      const { payload, ...header } = envelope
      const json = JSON.stringify({ payload, ...header })
      yield* outbound.send(envelope, json)
      yield* Deferred.succeed(open, undefined)
      yield* outbound.flush
      assert.deepStrictEqual(recorded, [json])
      assert.deepStrictEqual(written, [json])
    }))

  it.scoped("envelopes the recorder does not take (handshake answers, relayed copies) are written as they are", () =>
    Effect.gen(function*() {
      const { connection, open, written } = yield* gatedConnection
      const outbound = yield* Outbound.make(connection, {
        recordable: (envelope) => envelope.session_id !== undefined,
        record: (batch, inbox) => Effect.sync(() => inbox(batch))
      })
      yield* Deferred.succeed(open, undefined)
      yield* outbound.emit("event.emit", { name: "unrecorded" })
      yield* outbound.emit("event.emit", { name: "recorded" }, { session_id: SessionId.make("sess_1") })
      yield* outbound.flush
      assert.deepStrictEqual(written.map((json) => JSON.parse(json).payload.name), ["unrecorded", "recorded"])
    }))

  it.scoped("on an idle path over a transport that buffers, an unrecorded envelope is written before send returns", () =>
    Effect.gen(function*() {
      const written: Array<string> = []
      // a transport that keeps what it is sent (as a WebSocket does): its send never waits for the peer
      const buffering: Connection = {
        label: "buffering",
        binary: false,
        incoming: Stream.empty,
        send: (frame) => Effect.sync(() => written.push(String(frame))),
        buffered: () => 0,
        close: Effect.void
      }
      const outbound = yield* Outbound.make(buffering, {
        recordable: (envelope) => envelope.session_id !== undefined,
        record: (batch, inbox) => Effect.sync(() => inbox(batch))
      })
      // a handshake answer: no writer fiber is started for it, so it is out once the send is done
      yield* outbound.emit("event.emit", { name: "answer" })
      assert.deepStrictEqual(written.map((json) => JSON.parse(json).payload.name), ["answer"])
      // one to commit first goes through the writer; an unrecorded one sent meanwhile keeps its turn behind it
      yield* outbound.emit("event.emit", { name: "recorded" }, { session_id: SessionId.make("sess_1") })
      yield* outbound.emit("event.emit", { name: "after" })
      yield* outbound.flush
      assert.deepStrictEqual(written.map((json) => JSON.parse(json).payload.name), ["answer", "recorded", "after"])
    }))

  const limits = { maxBytes: 8_000, maxEnvelopes: 10, stallTimeout: "30 seconds" } as const
  /** A producer that waits for room before each of `count` events, as a job does. */
  const produce = (outbound: Outbound.Outbound, count: number) =>
    Effect.forEach(
      Array.from({ length: count }, (_, i) => i),
      (i) => Effect.zipRight(outbound.room, outbound.emit("event.emit", { name: `e${i}` })),
      { discard: true }
    )

  /** Waits until a producer waits for room with the transport full: nothing moves until the peer reads. */
  const stuck = (outbound: Outbound.Outbound) =>
    Effect.repeat(Effect.zipRight(outbound.backedUp, outbound.usage), {
      until: (u) => u.waiting > 0 && u.transportBytes >= limits.maxBytes / 2
    })

  it.scopedLive("R11-2 a full buffer holds the producer back (bounded) until the peer reads; nothing is dropped", () =>
    Effect.gen(function*() {
      const [client, server] = yield* Memory.makePair()
      const outbound = yield* Outbound.make(server, { limits: { ...limits, stallTimeout: "1 hour" } })
      const producer = yield* Effect.fork(produce(outbound, 200))
      const usage = yield* stuck(outbound)
      assert.isAtLeast(usage.waiting, 1)
      assert.isAtMost(usage.envelopes, limits.maxEnvelopes)
      // the transport's unread bytes count too: the whole buffer stays within the limit plus one envelope
      assert.isAtMost(usage.bytes, limits.maxBytes + 200)
      assert.isTrue(Option.isNone(yield* Fiber.poll(producer)), "the producer is suspended")
      // the synchronous check a job makes before waiting says the same
      assert.isFalse(outbound.roomNow(false))
      // the peer reads: every event arrives, in order
      const frames = yield* client.incoming.pipe(Stream.take(200), Stream.runCollect)
      const names = Chunk.toReadonlyArray(frames).map((
        f
      ) => (f._tag === "Text" ? JSON.parse(f.text).payload.name : "?"))
      assert.deepStrictEqual(names, Array.from({ length: 200 }, (_, i) => `e${i}`))
      yield* Fiber.join(producer)
      assert.isTrue(outbound.roomNow(false))
    }))

  it.scopedLive("R6.5-3 R11.2-3 a full buffer sheds low-priority progress from the wire, never from the log; the rest waits and arrives", () =>
    Effect.gen(function*() {
      const [client, server] = yield* Memory.makePair()
      const committed: Array<Decoded> = []
      const outbound = yield* Outbound.make(server, {
        limits: { ...limits, stallTimeout: "1 hour" },
        record: (batch, inbox) =>
          Effect.sync(() => {
            for (const { envelope } of batch) committed.push(envelope)
            inbox(batch)
          })
      })
      yield* lowProgress(outbound, 300)
      const usage = yield* outbound.usage
      assert.isAbove(usage.shed, 0, "the reader took nothing: progress was shed")
      // a normal-priority producer is held back, never shed
      const producer = yield* Effect.fork(produce(outbound, 50))
      yield* stuck(outbound)
      const frames = yield* client.incoming.pipe(
        Stream.map((f) => (f._tag === "Text" ? JSON.parse(f.text) : {})),
        Stream.takeUntil((m) => m.payload?.name === "e49"),
        Stream.runCollect,
        Effect.map(Chunk.toReadonlyArray)
      )
      yield* Fiber.join(producer)
      const progress = frames.filter((m) => m.type === "job.progress").map((m) => m.payload.current)
      const shed = (yield* outbound.usage).shed
      assert.strictEqual(progress.length + shed, 300, "each progress is either written or counted as shed")
      assert.deepStrictEqual(progress, [...progress].sort((a, b) => a - b), "what is written keeps its order")
      assert.deepStrictEqual(
        frames.filter((m) => m.type === "event.emit").map((m) => m.payload.name),
        Array.from({ length: 50 }, (_, i) => `e${i}`)
      )
      // everything was committed: a resume or a subscription's backfill reads the shed events
      assert.strictEqual(committed.filter((e) => e.type === "job.progress").length, 300)
    }))

  it.scoped("R6.5-3 a transport whose send waits for the peer does not hold the commits up: low-priority progress is shed", () =>
    Effect.gen(function*() {
      const gated = yield* gatedConnection
      // every send waits until `open`: a pipe whose reader stopped
      const connection: Connection = { ...gated.connection, sendWaits: true }
      let committed = 0
      const outbound = yield* Outbound.make(connection, {
        limits: { ...limits, stallTimeout: "1 hour" },
        record: (batch, inbox) =>
          Effect.sync(() => {
            committed += batch.length
            inbox(batch)
          })
      })
      yield* lowProgress(outbound, 300)
      yield* Deferred.succeed(gated.open, undefined)
      yield* outbound.flush
      assert.strictEqual(committed, 300, "all committed while the first write waited")
      assert.isAbove((yield* outbound.usage).shed, 0)
      assert.strictEqual(gated.written.length + (yield* outbound.usage).shed, 300)
    }))

  it.scoped("a peer that takes nothing for the stall timeout is reported, once", () =>
    Effect.gen(function*() {
      const [, server] = yield* Memory.makePair()
      const stalled = yield* Deferred.make<void>()
      let reports = 0
      const outbound = yield* Outbound.make(server, {
        limits,
        onStall: Effect.suspend(() => {
          reports++
          return Deferred.succeed(stalled, undefined)
        })
      })
      yield* Effect.fork(produce(outbound, 200))
      yield* outbound.backedUp
      yield* TestClock.adjust("29 seconds")
      assert.isFalse(yield* Deferred.isDone(stalled), "not before the stall timeout")
      yield* TestClock.adjust("2 seconds")
      yield* Deferred.await(stalled)
      yield* TestClock.adjust("60 seconds")
      assert.strictEqual(reports, 1)
    }))

  it.scoped("R6.4-1 a recording that fails seals the path: nothing unrecorded is written but session.evicted", () =>
    Effect.gen(function*() {
      const { connection, open, written } = yield* gatedConnection
      yield* Deferred.succeed(open, undefined)
      const failed = yield* Deferred.make<string>()
      let healthy = true
      const outbound = yield* Outbound.make(connection, {
        record: (batch, inbox) => (healthy ? Effect.sync(() => inbox(batch)) : Effect.fail({ message: "disk full" })),
        onRecordFailure: (e) => Deferred.succeed(failed, e.message)
      })
      yield* outbound.emit("event.emit", { name: "before" })
      yield* outbound.flush
      healthy = false
      yield* outbound.emit("event.emit", { name: "lost" })
      assert.strictEqual(yield* Deferred.await(failed), "disk full")
      yield* outbound.emit("event.emit", { name: "after" })
      yield* outbound.emit("session.evicted", { reason: "UNAVAILABLE", message: "cannot record", allow_resume: false })
      yield* outbound.flush
      assert.deepStrictEqual(written.map((frame) => JSON.parse(frame).type), ["event.emit", "session.evicted"])
      assert.strictEqual(JSON.parse(written[0] ?? "{}").payload.name, "before")
    }))

  it.effect("what is still queued when the connection closes is recorded, not lost", () =>
    Effect.gen(function*() {
      const recorded: Array<string> = []
      yield* Effect.scoped(Effect.gen(function*() {
        // the peer never takes a frame: the writer is stuck on the first one
        const { connection } = yield* gatedConnection
        const outbound = yield* Outbound.make(connection, {
          record: (batch, inbox) =>
            Effect.sync(() => {
              batch.forEach(({ json }) => recorded.push(json))
              inbox(batch)
            })
        })
        for (let i = 0; i < 10; i++) yield* outbound.emit("event.emit", { name: `e${i}` })
        yield* Effect.yieldNow()
      }))
      assert.deepStrictEqual(
        recorded.map((json) => JSON.parse(json).payload.name),
        Array.from({ length: 10 }, (_, i) => `e${i}`)
      )
    }))
})
