/** The client's own rules, against a scripted peer on a memory pair (no runtime): request timeouts under TestClock. */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Stream, TestClock } from "effect"
import * as Client from "../../src/client/Client.js"
import { make as makeEnvelope } from "../../src/protocol/Envelope.js"
import { decodeJson, encodeUnchecked } from "../../src/protocol/Message.js"
import * as Memory from "../../src/transport/Memory.js"
import type { Connection } from "../../src/transport/Transport.js"

/** A peer that accepts the session and then answers nothing at all. */
const silentRuntime = (connection: Connection) =>
  connection.incoming.pipe(
    Stream.runForEach((frame) =>
      Effect.gen(function*() {
        if (frame._tag !== "Text") return
        const decoded = decodeJson(frame.text)
        if (decoded._tag !== "Right" || decoded.right.type !== "session.open") return
        const accepted = yield* makeEnvelope("session.accepted", {
          session_id: "sess_silent",
          runtime: { kind: "silent", version: "1.0.0", fingerprint: "sha256:00", trust_level: "trusted" },
          capabilities: {},
          lease: { expires_at: "2099-01-01T00:00:00Z" }
        }, { correlation_id: decoded.right.id })
        yield* connection.send(encodeUnchecked(accepted))
      })
    ),
    Effect.ignore
  )

describe("Client", () => {
  it.scoped("a request with no answer fails with ClientError Timeout once its timeout has passed (TestClock)", () =>
    Effect.gen(function*() {
      const [client, server] = yield* Memory.makePair()
      yield* Effect.forkScoped(silentRuntime(server))
      const session = yield* Client.connect(client, {
        credentials: { scheme: "bearer", token: "t" },
        timeout: "5 seconds"
      })
      const ping = yield* Effect.fork(Effect.flip(session.ping))
      yield* TestClock.adjust("4 seconds")
      assert.isNull(yield* Fiber.poll(ping).pipe(Effect.map((o) => (o._tag === "Some" ? "done" : null))))
      yield* TestClock.adjust("2 seconds")
      const error = yield* Fiber.join(ping)
      assert.strictEqual(error._tag, "ClientError")
      assert.strictEqual(error._tag === "ClientError" ? error.reason : "", "Timeout")
    }))
})
