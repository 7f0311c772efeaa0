/** `ArcpClient`: one entry point over any transport, and the session as a Layer (`ArcpSession`). */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { echo } from "../../src/cli/demoTools.js"
import * as ArcpClient from "../../src/client/ArcpClient.js"
import * as Memory from "../../src/transport/Memory.js"
import { Acceptor } from "../../src/transport/Transport.js"
import { coreServer } from "../support/CoreServer.js"
import { dial } from "../support/Dialer.js"
import { PRINCIPAL, serverLayer, TOKEN, webSocket } from "../support/Harness.js"
import { relayedRuntime } from "../support/Relay.js"

const credentials = { scheme: "bearer", token: TOKEN } as const

describe("ArcpClient", () => {
  it.scopedLive("R4.1-2 connect dials a ws:// URL and opens a scoped session", () =>
    Effect.gen(function*() {
      const { address } = yield* Acceptor
      const session = yield* ArcpClient.connect(address, { credentials })
      yield* session.ping
      const job = yield* session.invoke("echo", { hello: PRINCIPAL })
      assert.deepStrictEqual(yield* job.outcome, { hello: PRINCIPAL })
    }).pipe(Effect.provide(serverLayer({ transport: webSocket }))))

  it.scoped("R8.1-1 layer provides the session as ArcpSession, over a connection opened by an effect (memory)", () =>
    Effect.gen(function*() {
      const client = ArcpClient.layer(dial, { credentials: { scheme: "bearer", token: "good-token" } })
      const id = yield* Effect.gen(function*() {
        const session = yield* ArcpClient.ArcpSession
        yield* session.ping
        return session.id
      }).pipe(Effect.provide(client))
      assert.match(id, /^sess_/)
    }).pipe(Effect.provide(coreServer(Memory.layer()))))

  it.scoped("R8.1-1 a refused session fails the layer with the runtime's ArcpError", () =>
    Effect.gen(function*() {
      const failed = yield* Layer.build(ArcpClient.layer(dial, { credentials: { scheme: "bearer", token: "wrong" } }))
        .pipe(Effect.flip)
      assert.strictEqual(failed._tag === "ArcpError" ? failed.code : failed._tag, "UNAUTHENTICATED")
    }).pipe(Effect.provide(coreServer(Memory.layer()))))

  it.live(
    "R4.6-1 a handshake the runtime ends at its deadline fails connect with its DEADLINE_EXCEEDED, retryable",
    () =>
      Effect.gen(function*() {
        // the session.open reaches the runtime after its 200 ms handshake deadline: the runtime's unprompted
        // session.rejected is the handshake's answer, not a bare "the connection closed"
        const { relay } = yield* relayedRuntime([echo], { handshakeTimeout: "200 millis" })
        relay.stallNext(600)
        const failed = yield* Effect.flip(
          ArcpClient.connect(relay.url, { credentials: { scheme: "bearer", token: "tok-a" } })
        )
        assert.strictEqual(failed._tag === "ArcpError" ? failed.code : failed.message, "DEADLINE_EXCEEDED")
        assert.isTrue(failed._tag === "ArcpError" && failed.isRetryable)
      }).pipe(Effect.scoped),
    15_000
  )
})
