/** The core suite over the in-memory transport, plus the timer behaviours driven by TestClock. */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream, TestClock } from "effect"
import * as Client from "../../src/client/Client.js"
import { make as makeEnvelope } from "../../src/protocol/Envelope.js"
import { encodeUnchecked } from "../../src/protocol/Message.js"
import { Sessions } from "../../src/runtime/Sessions.js"
import * as Memory from "../../src/transport/Memory.js"
import { dial, field } from "../support/Harness.js"
import { coreServer, coreSuite, rawSession, reader, SECRET } from "./CoreSuite.js"

describe("runtime core over memory", () => {
  coreSuite((options) => coreServer(Memory.layer({ maxFrameBytes: options?.runtime?.maxFrameBytes }), options))
})

describe("session timers (TestClock)", () => {
  const server = (runtime: Parameters<typeof coreServer>[1]) => coreServer(Memory.layer(), runtime)

  it.scoped("R8.4-1 R8.4-2 R9-2 R9-5 before the lease ends the runtime asks to re-authenticate; the client answers and stays", () =>
    Effect.gen(function*() {
      const session = yield* Effect.flatMap(dial, (c) => Client.connect(c, { credentials: { scheme: "bearer", token: "good-token" } }))
      const messages = yield* session.subscribe
      const seen: Array<string> = []
      yield* Effect.forkScoped(Stream.runForEach(messages, (m) => Effect.sync(() => seen.push(m.type))))
      yield* TestClock.adjust("570 seconds")
      // the refresh, the client's answer and the new lease travel on the same connection as these pings
      for (let i = 0; i < 10 && !seen.includes("session.accepted"); i++) yield* session.ping
      assert.includeMembers(seen, ["session.refresh", "session.accepted"])
      yield* TestClock.adjust("60 seconds")
      yield* session.ping
    }).pipe(Effect.provide(server({ runtime: { sessionLease: "10 minutes", refreshDeadline: "30 seconds", idleTimeout: "1 hour" } }))))

  it.scoped("R8.4-2 R8.5-2 a client that cannot re-authenticate is evicted with UNAUTHENTICATED after the deadline", () =>
    Effect.gen(function*() {
      const { SignJWT } = yield* Effect.promise(() => import("jose"))
      const token = yield* Effect.promise(() =>
        new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject("agent-1").setAudience("arcp://runtime").setExpirationTime("2h")
          .sign(new TextEncoder().encode(SECRET)))
      // a token but no signer: the nonce challenge of the refresh cannot be answered
      const session = yield* Effect.flatMap(dial, (c) => Client.connect(c, { credentials: { scheme: "signed_jwt", token } }))
      const sessions = yield* Sessions
      yield* sessions.refresh(session.id, "policy")
      yield* TestClock.adjust("31 seconds")
      const ended = yield* session.ended
      assert.strictEqual(ended.reason, "Evicted")
      assert.strictEqual(ended.code, "UNAUTHENTICATED")
    }).pipe(Effect.provide(server({ runtime: { refreshDeadline: "30 seconds" } }))))

  it.scoped("R8.5-1 R8.5-2 an idle session is evicted with DEADLINE_EXCEEDED; traffic resets the timer", () =>
    Effect.gen(function*() {
      const session = yield* Effect.flatMap(dial, (c) => Client.connect(c, { credentials: { scheme: "bearer", token: "good-token" } }))
      yield* TestClock.adjust("50 seconds")
      yield* session.ping
      yield* TestClock.adjust("50 seconds")
      yield* session.ping // still alive: the first ping reset the idle timer
      yield* TestClock.adjust("61 seconds")
      const ended = yield* session.ended
      assert.strictEqual(ended.code, "DEADLINE_EXCEEDED")
    }).pipe(Effect.provide(server({ runtime: { idleTimeout: "1 minute" } }))))

  it.scoped("a connection that never completes the handshake is rejected with DEADLINE_EXCEEDED", () =>
    Effect.gen(function*() {
      const connection = yield* dial
      const read = yield* reader(connection)
      yield* TestClock.adjust("30 seconds")
      const rejected = yield* read.next
      assert.deepStrictEqual([rejected.type, field(rejected, "code")], ["session.rejected", "DEADLINE_EXCEEDED"])
    }).pipe(Effect.provide(server({ runtime: { handshakeTimeout: "30 seconds" } }))))

  it.scoped("a raw session keeps answering after many bad frames", () =>
    Effect.gen(function*() {
      const connection = yield* dial
      const { read } = yield* rawSession(connection)
      for (let i = 0; i < 20; i++) yield* connection.send(`{"broken": ${i}`)
      for (let i = 0; i < 20; i++) assert.strictEqual((yield* read.next).type, "nack")
      yield* connection.send(encodeUnchecked(yield* makeEnvelope("ping", {})))
      assert.strictEqual((yield* read.next).type, "pong")
    }).pipe(Effect.provide(server({}))))
})
