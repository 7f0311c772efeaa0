/**
 * A request made while the client is reconnecting (§19) waits for the new transport and goes out on it,
 * not on the one that was lost: a TCP relay cut between the client and the runtime (real WebSocket, real
 * SQLite file), the request sent once the client has seen the loss. An extension message sent after the
 * reconnect goes out on the new transport too.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Logger } from "effect"
import { echo } from "../../src/cli/demoTools.js"
import * as ArcpClient from "../../src/client/ArcpClient.js"
import { relayedRuntime } from "../support/Relay.js"

const credentials = { scheme: "bearer", token: "tok-a" } as const

/** A session through a relay, and the relay cut: returns once the client has seen the loss and is reconnecting. */
const cutSession = Effect.gen(function*() {
  const { relay } = yield* relayedRuntime([echo])
  // the client logs the loss when it stops sending on the lost transport and starts to reconnect
  const lost = yield* Deferred.make<void>()
  const watcher = Logger.make(({ message }) => {
    if (String(message).includes("reconnecting")) Deferred.unsafeDone(lost, Effect.void)
  })
  const session = yield* ArcpClient.connect(relay.url, { credentials, reconnect: { initialDelay: 50 } }).pipe(
    Effect.provide(Logger.replace(Logger.defaultLogger, watcher))
  )
  relay.cut()
  yield* Deferred.await(lost)
  return { relay, session }
})

describe("requests while reconnecting", () => {
  it.live(
    "R19-1 a request made while the transport is being replaced goes out on the new one",
    () =>
      Effect.gen(function*() {
        const { relay, session } = yield* cutSession
        const job = yield* session.invoke("echo", { said: "after the cut" })
        assert.deepStrictEqual(yield* job.outcome, { said: "after the cut" })
        assert.isAtLeast(relay.accepted(), 2, "it reconnected")
      }).pipe(Effect.scoped),
    30_000
  )

  it.live(
    "R19-1 an extension message sent after a reconnect goes out on the new transport, not the lost one",
    () =>
      Effect.gen(function*() {
        const { session } = yield* cutSession
        // an answered request: the client is on the new transport
        const job = yield* session.invoke("echo", { said: "back" })
        assert.deepStrictEqual(yield* job.outcome, { said: "back" })
        const sent = yield* Effect.either(session.sendExtension("arcpx.acme.audit.v1.note", { text: "hi" }, {
          optional: true
        }))
        assert.isTrue(sent._tag === "Right", `sent on the live transport: ${JSON.stringify(sent)}`)
      }).pipe(Effect.scoped),
    30_000
  )

  it.live(
    "R19-1 a reconnection the runtime turns away as retryable (its handshake timed out) is tried again",
    () =>
      Effect.gen(function*() {
        const { relay } = yield* relayedRuntime([echo], { handshakeTimeout: "200 millis" })
        const lost = yield* Deferred.make<void>()
        const watcher = Logger.make(({ message }) => {
          if (String(message).includes("reconnecting")) Deferred.unsafeDone(lost, Effect.void)
        })
        const session = yield* ArcpClient.connect(relay.url, { credentials, reconnect: { initialDelay: 50 } }).pipe(
          Effect.provide(Logger.replace(Logger.defaultLogger, watcher))
        )
        // the first redial's session.open arrives after the runtime's handshake deadline: session.rejected
        // DEADLINE_EXCEEDED, retryable (§18.3); the next redial goes through
        relay.stallNext(600)
        relay.cut()
        yield* Deferred.await(lost)
        const job = yield* session.invoke("echo", { said: "after a slow redial" })
        assert.deepStrictEqual(yield* job.outcome, { said: "after a slow redial" })
        assert.isAtLeast(relay.accepted(), 3, "the rejected redial, then one that resumed")
      }).pipe(Effect.scoped),
    30_000
  )

  it.live(
    "R19-1 a reconnection attempt whose transport is cut before the runtime answers fails at once, and the next one resumes",
    () =>
      Effect.gen(function*() {
        const { relay } = yield* relayedRuntime([echo])
        const lost = yield* Deferred.make<void>()
        const watcher = Logger.make(({ message }) => {
          if (String(message).includes("reconnecting")) Deferred.unsafeDone(lost, Effect.void)
        })
        // the client's requests wait 20 s for an answer: an attempt waiting on its handshake's would outlast the test
        const session = yield* ArcpClient.connect(relay.url, {
          credentials,
          reconnect: { initialDelay: 50 },
          timeout: "20 seconds"
        }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, watcher)))
        // the first redial is cut once its session.open is on the way: no answer, no rejection, only the close
        relay.dropNext()
        relay.cut()
        yield* Deferred.await(lost)
        const job = yield* session.invoke("echo", { said: "after a cut redial" })
        assert.deepStrictEqual(yield* job.outcome, { said: "after a cut redial" })
        assert.isAtLeast(relay.accepted(), 3, "the cut redial, then one that resumed")
      }).pipe(Effect.scoped),
    15_000
  )
})
