/**
 * Closing waits for the peer to take what is queued, up to the close grace (5 s), then closes anyway: a peer
 * that reads nothing cannot hold a connection open. Here the transport's sends wait for the peer (a pipe whose
 * reader stopped), the peer stops taking frames and sends `session.close`: its ack cannot be written.
 */
import { assert, it } from "@effect/vitest"
import { Context, Deferred, Effect, FiberId, Layer, Option, TestClock } from "effect"
import { make as makeEnvelope } from "../../../src/protocol/Envelope.js"
import { SessionId } from "../../../src/protocol/Ids.js"
import { Sessions } from "../../../src/runtime/Sessions.js"
import * as Memory from "../../../src/transport/Memory.js"
import { Acceptor } from "../../../src/transport/Transport.js"
import { rawSession, sendEnvelope } from "../../support/CoreServer.js"
import { dial, serverLayer, TOKEN } from "../../support/Harness.js"

/** The in-memory transport, its server ends' sends waiting while `hold` is on (and saying so once in `blocked`). */
const holdingTransport = (hold: { on: boolean }, blocked: Deferred.Deferred<void>) =>
  Layer.scopedContext(Effect.gen(function*() {
    const inner = yield* Layer.build(Memory.layer())
    const acceptor = Context.get(inner, Acceptor)
    const never = yield* Deferred.make<void>()
    return Context.make(
      Acceptor,
      Acceptor.of({
        address: acceptor.address,
        run: (handler) =>
          acceptor.run((connection) =>
            handler({
              ...connection,
              sendWaits: true,
              send: (frame) =>
                Effect.suspend(() =>
                  hold.on
                    ? Effect.zipRight(Deferred.succeed(blocked, undefined), Deferred.await(never))
                    : connection.send(frame)
                )
            })
          )
      })
    ).pipe(Context.add(Memory.MemoryNetwork, Context.get(inner, Memory.MemoryNetwork)))
  }))

const hold = { on: false }
const blocked = Deferred.unsafeMake<void>(FiberId.none)

it.scoped("a close whose peer takes nothing waits the close grace (5 s), then closes the connection", () =>
  Effect.gen(function*() {
    const connection = yield* dial
    const { accepted, read } = yield* rawSession(connection, {}, TOKEN)
    const sessionId = SessionId.make(accepted.session_id ?? "")
    // from now on nothing the server sends reaches the peer
    hold.on = true
    yield* sendEnvelope(connection, makeEnvelope("session.close", {}, { session_id: sessionId }))
    yield* Deferred.await(blocked)
    const sessions = yield* Sessions
    yield* TestClock.adjust("4 seconds")
    assert.isTrue(Option.isSome(yield* sessions.get(sessionId)), "still waiting for the peer within the grace")
    assert.isFalse(yield* Deferred.isDone(read.ended))
    yield* TestClock.adjust("1 second")
    // the connection is closed without the peer having taken the ack
    yield* Deferred.await(read.ended)
    assert.isTrue(Option.isNone(yield* Effect.repeat(sessions.get(sessionId), { until: Option.isNone })))
  }).pipe(Effect.provide(serverLayer({ transport: holdingTransport(hold, blocked) }))))
