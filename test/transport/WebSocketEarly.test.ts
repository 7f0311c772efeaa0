/**
 * A client that connects while the runtime is still starting (the port listens, the runtime does not serve yet)
 * loses nothing: its upgraded socket waits in the backlog, paused, and the frames it sent meanwhile are read once
 * the runtime serves it. They were dropped before (`ws` emitted them with no listener), so a `session.open` sent at
 * once went unanswered until the handshake deadline. Real WebSocket on 127.0.0.1.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Stream } from "effect"
import { WebSocket } from "ws"
import { Acceptor } from "../../src/transport/Transport.js"
import * as WebSocketTransport from "../../src/transport/WebSocket.js"

describe("WebSocket transport", () => {
  it.scopedLive("frames a client sends before the runtime serves its connection are read once it does", () =>
    Effect.gen(function*() {
      const acceptor = yield* Acceptor
      const client = new WebSocket(acceptor.address)
      yield* Effect.addFinalizer(() => Effect.sync(() => client.terminate()))
      // upgraded, then a frame at once, all before `run`
      yield* Effect.async<void>((resume) => {
        client.once("open", () => {
          client.send("early")
          resume(Effect.void)
        })
      })
      yield* Effect.sleep("200 millis")
      const received = yield* Deferred.make<string>()
      const server = yield* acceptor.run((connection) =>
        connection.incoming.pipe(
          Stream.take(1),
          Stream.runForEach((frame) => Deferred.succeed(received, frame._tag === "Text" ? frame.text : frame._tag)),
          Effect.ignore
        )
      ).pipe(Effect.fork)
      const text = yield* Deferred.await(received).pipe(Effect.timeout("3 seconds"), Effect.option)
      yield* Fiber.interrupt(server)
      assert.deepStrictEqual(text._tag === "Some" ? text.value : "nothing within 3 s", "early")
    }).pipe(Effect.provide(WebSocketTransport.layer({ port: 0 }))))
})
