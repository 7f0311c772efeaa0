/**
 * An idle connection of a listening transport holds no fiber (issue 12): once it has handled what arrived it
 * suspends, and its next frame starts a fiber again, with its log annotations and session intact. Over a real
 * WebSocket on 127.0.0.1, the server's fibers counted with a `Supervisor`.
 */
import { assert, it } from "@effect/vitest"
import { Chunk, Deferred, Effect, Exit, Fiber, Layer, Scope, Stream, Supervisor, TestClock } from "effect"
import { rawSession } from "../../support/CoreServer.js"
import { dial, field, open, serverLayer, TOKEN, webSocket } from "../../support/Harness.js"

const SESSIONS = 10

it.scoped("idle sessions hold no fiber: each answers again once a frame arrives, and ends when closed", () =>
  Effect.gen(function*() {
    const fibers = yield* Supervisor.track
    // the server built under the supervisor (its connections' fibers are counted), the clients outside it
    const built = yield* Layer.buildWithScope(serverLayer({ transport: webSocket }), yield* Effect.scope).pipe(
      Effect.supervised(fibers)
    )
    const live = Effect.map(fibers.value, (all) => all.length)
    // the first session also starts the runtime's shared fibers (timers, the recorder): counted from there on
    const first = yield* Effect.provide(open(), built)
    yield* first.ping
    const before = yield* live
    const sessions = yield* Effect.forEach(
      Array.from({ length: SESSIONS }),
      () => Effect.tap(Effect.provide(open(), built), (session) => session.ping),
      { concurrency: "unbounded" }
    )
    // ten sessions open and idle: no fiber per connection (before, one each waited for its next frame)
    assert.isBelow((yield* live) - before, SESSIONS / 2)
    // each is read again when a frame arrives: a round trip on every one, twice (the second after it suspended again)
    yield* Effect.forEach(sessions, (session) => Effect.zipRight(session.ping, session.ping), { discard: true })
    assert.isBelow((yield* live) - before, SESSIONS / 2)
    // a session closed by its client ends its connection on the server (the next frame, the close, runs it)
    yield* Effect.forEach(sessions, (session) => session.close(), { discard: true })
    yield* first.close()
  }))

it.scoped("a connection that sends nothing holds no fiber, and the handshake deadline still ends it", () =>
  Effect.gen(function*() {
    const fibers = yield* Supervisor.track
    const built = yield* Layer.buildWithScope(
      serverLayer({ transport: webSocket, runtime: { handshakeTimeout: "30 seconds" } }),
      yield* Effect.scope
    ).pipe(Effect.supervised(fibers))
    const warm = yield* Effect.provide(open(), built)
    yield* warm.ping
    const before = yield* Effect.map(fibers.value, (all) => all.length)
    const silent = yield* Effect.provide(dial, built)
    const frames = yield* Effect.fork(silent.incoming.pipe(Stream.runCollect))
    // its server side suspended at once: nothing arrived to read
    yield* warm.ping
    assert.isBelow((yield* Effect.map(fibers.value, (all) => all.length)) - before, 1)
    yield* TestClock.adjust("30 seconds")
    // the deadline's rejection, then the server closes the connection: the client's stream ends
    const received = Chunk.toReadonlyArray(yield* Fiber.join(frames))
    assert.deepStrictEqual(
      received.flatMap((frame) => frame._tag === "Text" ? [JSON.parse(frame.text).type] : []),
      ["session.rejected"]
    )
  }))

it.scoped("the runtime's shutdown ends idle connections: each is told why, then closed", () =>
  Effect.gen(function*() {
    const serverScope = yield* Scope.make()
    const built = yield* Layer.buildWithScope(serverLayer({ transport: webSocket }), serverScope)
    const reads = yield* Effect.forEach(Array.from({ length: 3 }), () =>
      Effect.gen(function*() {
        const connection = yield* Effect.provide(dial, built)
        const { read } = yield* rawSession(connection, {}, TOKEN)
        return read
      }))
    // every connection idle (suspended, no fiber) when the server stops
    yield* Scope.close(serverScope, Exit.void)
    for (const read of reads) {
      const evicted = yield* read.next
      assert.deepStrictEqual([evicted.type, field(evicted, "reason")], ["session.evicted", "UNAVAILABLE"])
      yield* Deferred.await(read.ended)
    }
  }))
