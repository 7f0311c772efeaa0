/**
 * A connection of a listening transport is read on the fiber the transport gave it (one fiber per
 * connection, issue 12). Ending it from elsewhere interrupts that fiber, so a handler it is stuck in
 * (here an authenticator that never answers) is interrupted when the handshake deadline closes the
 * connection, over a real WebSocket on 127.0.0.1.
 */
import { assert, it } from "@effect/vitest"
import { Deferred, Effect, Layer, Logger, LogLevel, Option, Queue, Supervisor, TestClock } from "effect"
import { make as makeEnvelope } from "../../../src/protocol/Envelope.js"
import { Authenticator } from "../../../src/runtime/auth/Auth.js"
import * as Runtime from "../../../src/runtime/Runtime.js"
import * as Tools from "../../../src/runtime/Tools.js"
import * as MemoryArtifactStore from "../../../src/store/MemoryArtifactStore.js"
import * as MemoryEventLog from "../../../src/store/MemoryEventLog.js"
import * as WebSocket from "../../../src/transport/WebSocket.js"
import { reader, sendEnvelope } from "../../support/CoreServer.js"
import { dial, fromAcceptorWith } from "../../support/Dialer.js"
import { field } from "../../support/Harness.js"

/** A WebSocket server whose authenticator never answers, and tells `stuck` each time it is called and `interrupted` when cut. */
const server = (stuck: Queue.Queue<void>, interrupted: Deferred.Deferred<void>) =>
  Runtime.serve.pipe(
    Layer.provideMerge(Runtime.layer({ handshakeTimeout: "30 seconds" })),
    Layer.provide(Layer.mergeAll(
      Layer.succeed(
        Authenticator,
        Authenticator.of({
          begin: () =>
            Effect.zipRight(Queue.offer(stuck, undefined), Effect.never).pipe(
              Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined))
            ),
          refresh: () => Effect.succeed(Option.none()),
          allowsAnonymous: false
        })
      ),
      Tools.layer([])
    )),
    Layer.provideMerge(MemoryEventLog.layer),
    Layer.provideMerge(MemoryArtifactStore.layer),
    Layer.provideMerge(WebSocket.layer({ port: 0 })),
    (built) => fromAcceptorWith().pipe(Layer.provideMerge(built)),
    Layer.provide(Logger.minimumLogLevel(LogLevel.None))
  )

const open = makeEnvelope("session.open", {
  auth: { scheme: "bearer", token: "any" },
  client: { kind: "raw", version: "1" },
  capabilities: {}
})

it.scoped("R4.6-1 the handshake deadline ends a connection stuck in its authenticator: the handler is interrupted", () =>
  Effect.gen(function*() {
    const stuck = yield* Queue.unbounded<void>()
    const interrupted = yield* Deferred.make<void>()
    yield* Effect.gen(function*() {
      const connection = yield* dial
      const read = yield* reader(connection)
      yield* sendEnvelope(connection, open)
      yield* Queue.take(stuck)
      yield* TestClock.adjust("30 seconds")
      const rejected = yield* read.next
      assert.deepStrictEqual([rejected.type, field(rejected, "code")], ["session.rejected", "DEADLINE_EXCEEDED"])
      // the connection's own fiber was in the authenticator when the deadline's fiber closed it
      yield* Deferred.await(interrupted)
      yield* Deferred.await(read.ended)
    }).pipe(Effect.provide(server(stuck, interrupted)))
  }))

it.scoped("a connection of a listening transport is served on one fiber: none is forked to read it", () =>
  Effect.gen(function*() {
    const stuck = yield* Queue.unbounded<void>()
    const interrupted = yield* Deferred.make<void>()
    const fibers = yield* Supervisor.track
    // the server built under the supervisor (its connections' fibers are counted), the client outside it
    const built = yield* Layer.buildWithScope(server(stuck, interrupted), yield* Effect.scope).pipe(
      Effect.supervised(fibers)
    )
    const connectionWaitingInItsHandshake = Effect.gen(function*() {
      const connection = yield* dial
      yield* reader(connection)
      yield* sendEnvelope(connection, open)
      yield* Queue.take(stuck)
    }).pipe(Effect.provide(built))
    const live = Effect.map(fibers.value, (all) => all.length)
    // the first connection also starts the runtime's shared deadline timer: counted from the second on
    yield* connectionWaitingInItsHandshake
    const before = yield* live
    yield* connectionWaitingInItsHandshake
    // the transport's fiber for the connection, which runs the authenticator; before, a second one read the socket
    assert.strictEqual((yield* live) - before, 1)
  }))
