/**
 * The session lifetime (RFC §8.4, §8.5, §21.2), for servers in this process:
 * re-authentication, refresh-then-evict and idle eviction under TestClock, the
 * handshake deadline, extension negotiation, the handshake in the event log,
 * and graceful shutdown. Run by `coreSuite` over memory and WebSocket.
 */
import { assert, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Option, Queue, Schedule, Scope, TestClock } from "effect"
import * as Client from "../../../src/client/Client.js"
import { type JwtSigner, jwtSigner } from "../../../src/client/Credentials.js"
import { make as makeEnvelope } from "../../../src/protocol/Envelope.js"
import { encodeUnchecked } from "../../../src/protocol/Message.js"
import { Sessions } from "../../../src/runtime/Sessions.js"
import { EventLog, readAll } from "../../../src/store/EventLog.js"
import { type InProcess, reader, SECRET, sign, type SuiteOptions } from "../../support/CoreServer.js"
import { dial, type Dialer } from "../../support/Dialer.js"
import { collectUntil, field } from "../../support/Harness.js"

const bearer = { scheme: "bearer", token: "good-token" } as const
const open = (options: Partial<Client.ConnectOptions> = {}) =>
  Effect.flatMap(dial, (connection) => Client.connect(connection, { credentials: bearer, ...options }))

/** Registers the in-process tests against `server`. */
export const sessionSuite = (server: (options?: SuiteOptions) => Layer.Layer<Dialer | InProcess, unknown>) => {
  it.scoped(
    "R8.4-1 R8.4-2 R9-2 R9-5 before the lease ends the runtime asks to re-authenticate; the client answers and stays",
    () =>
      Effect.gen(function*() {
        const session = yield* open()
        const messages = yield* session.messages
        const seen = yield* Effect.fork(collectUntil(messages, (m) => m.type === "session.accepted"))
        yield* TestClock.adjust("570 seconds")
        const received = yield* Fiber.join(seen)
        const types = received.map((m) => m.type)
        assert.deepStrictEqual(types.filter((t) => t.startsWith("session.")), ["session.refresh", "session.accepted"])
        const renewed = received.find((m) => m.type === "session.accepted")
        // §15.3: the renewed session.accepted still reports the session's trust level
        assert.strictEqual(renewed?.type === "session.accepted" ? renewed.payload.trust_level : undefined, "trusted")
        yield* TestClock.adjust("60 seconds")
        yield* session.ping // past the first lease: the renewed one holds
      }).pipe(
        Effect.provide(
          server({ runtime: { sessionLease: "10 minutes", refreshDeadline: "30 seconds", idleTimeout: "1 hour" } })
        )
      ),
    30_000
  ) // ~570 client sweeps and lease timers to run through: over 5 s on a loaded machine

  it.scoped("R8.4-2 R8.5-2 a client that cannot re-authenticate is evicted with UNAUTHENTICATED after the deadline", () =>
    Effect.gen(function*() {
      // a token but no signer: the nonce challenge of the refresh cannot be answered
      const session = yield* open({ credentials: { scheme: "signed_jwt", token: yield* sign({}, { expires: "2h" }) } })
      const messages = yield* session.messages
      const refreshed = yield* Effect.fork(collectUntil(messages, (m) => m.type === "session.refresh"))
      yield* (yield* Sessions).refresh(session.id, "policy")
      const refresh = (yield* Fiber.join(refreshed)).at(-1)
      assert.deepStrictEqual([field(refresh, "reason"), field(refresh, "deadline_ms")], ["policy", 30_000])
      const evicted = yield* Effect.fork(collectUntil(messages, (m) => m.type === "session.evicted"))
      const endedEarly = yield* Effect.fork(session.ended)
      // just before the deadline the session is still live
      yield* TestClock.adjust("29999 millis")
      yield* session.ping
      assert.isTrue(Option.isNone(yield* Fiber.poll(evicted)), "no session.evicted before the deadline")
      assert.isTrue(Option.isNone(yield* Fiber.poll(endedEarly)), "the session has not ended before the deadline")
      // past it: evicted
      yield* TestClock.adjust("2 millis")
      const eviction = (yield* Fiber.join(evicted)).at(-1)
      assert.strictEqual(field(eviction, "reason"), "UNAUTHENTICATED")
      const ended = yield* session.ended
      assert.strictEqual(ended.reason, "Evicted")
      assert.strictEqual(ended.code, "UNAUTHENTICATED")
    }).pipe(Effect.provide(server({ runtime: { refreshDeadline: "30 seconds" } }))))

  it.scoped("R8.4-2 R9-5 a re-authentication naming a different principal is refused: evicted UNAUTHENTICATED", () =>
    Effect.gen(function*() {
      // signs as agent-1 for the open, then as agent-2 for the refresh
      let signed = 0
      const switching: JwtSigner = (claims) =>
        jwtSigner({ subject: signed++ === 0 ? "agent-1" : "agent-2", secret: SECRET })(claims)
      const session = yield* open({ credentials: { scheme: "signed_jwt", signer: switching } })
      const messages = yield* session.messages
      const seen = yield* Effect.fork(collectUntil(messages, (m) => m.type === "session.evicted"))
      yield* (yield* Sessions).refresh(session.id, "policy")
      const evicted = (yield* Fiber.join(seen)).at(-1)
      assert.strictEqual(field(evicted, "reason"), "UNAUTHENTICATED")
      assert.include(String(field(evicted, "message")), "different principal")
      assert.strictEqual(signed, 2, "the refresh was answered, by the other principal")
      assert.strictEqual((yield* session.ended).code, "UNAUTHENTICATED")
    }).pipe(Effect.provide(server({ jwt: "nonce" }))))

  it.scoped("R8.5-1 R8.5-2 an idle session is evicted with DEADLINE_EXCEEDED; traffic resets the timer", () =>
    Effect.gen(function*() {
      const session = yield* open()
      yield* TestClock.adjust("50 seconds")
      yield* session.ping
      yield* TestClock.adjust("50 seconds")
      yield* session.ping // still alive: the first ping reset the idle timer
      yield* TestClock.adjust("61 seconds")
      const ended = yield* session.ended
      assert.deepStrictEqual([ended.reason, ended.code], ["Evicted", "DEADLINE_EXCEEDED"])
    }).pipe(Effect.provide(server({ idleTimeoutSeconds: 60 }))))

  it.scoped("R4.6-1 R18.2-1 a connection that never completes the handshake is rejected with DEADLINE_EXCEEDED", () =>
    Effect.gen(function*() {
      const connection = yield* dial
      const read = yield* reader(connection)
      yield* TestClock.adjust("30 seconds")
      const rejected = yield* read.next
      assert.deepStrictEqual([rejected.type, field(rejected, "code")], ["session.rejected", "DEADLINE_EXCEEDED"])
    }).pipe(Effect.provide(server({ runtime: { handshakeTimeout: "30 seconds" } }))))

  it.scoped("R4.6-1 the handshake deadline ends with the handshake: an accepted session outlives it", () =>
    Effect.gen(function*() {
      // its deadline sits on the runtime's shared timer beside the session's idle one: once accepted it is dropped
      const session = yield* open()
      const ended = yield* Effect.fork(session.ended)
      yield* TestClock.adjust("31 seconds")
      yield* session.ping
      yield* TestClock.adjust("31 seconds")
      yield* session.ping
      assert.isTrue(Option.isNone(yield* Fiber.poll(ended)), "the session is still open past the handshake deadline")
    }).pipe(Effect.provide(server({ runtime: { handshakeTimeout: "30 seconds", idleTimeout: "1 hour" } }))))

  it.scoped("R4.6-1 connections that never finish the handshake each get their own deadline on the shared timer", () =>
    Effect.gen(function*() {
      // the second arrives 10 s after the first: each is rejected at its own 30 s, not both at the first one's
      const first = yield* reader(yield* dial)
      yield* TestClock.adjust("10 seconds")
      const second = yield* reader(yield* dial)
      yield* TestClock.adjust("20 seconds")
      assert.strictEqual(field(yield* first.next, "code"), "DEADLINE_EXCEEDED")
      assert.isTrue(Option.isNone(yield* Queue.poll(second.queue)), "the later connection is still within its deadline")
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual(field(yield* second.next, "code"), "DEADLINE_EXCEEDED")
    }).pipe(Effect.provide(server({ runtime: { handshakeTimeout: "30 seconds" } }))))

  it.scoped("R21.2-1 R21.2-2 the runtime lists its extensions in session.accepted as the intersection with the client's; the others are refused", () =>
    Effect.gen(function*() {
      const connection = yield* dial
      const read = yield* reader(connection)
      const hello = yield* makeEnvelope("session.open", {
        auth: bearer,
        client: { kind: "raw", version: "1" },
        capabilities: { extensions: ["arcpx.acme.deploy.v1", "com.example.audit.v2"] }
      })
      yield* connection.send(encodeUnchecked(hello))
      const accepted = yield* read.next
      assert.deepStrictEqual(Reflect.get(Object(field(accepted, "capabilities")), "extensions"), [
        "arcpx.acme.deploy.v1"
      ])
      // supported by the runtime but not negotiated on this session: UNIMPLEMENTED, as for an unknown one
      yield* connection.send(
        JSON.stringify({
          arcp: "1.0",
          id: "msg_cache",
          session_id: accepted.session_id,
          timestamp: "2026-05-09T13:00:00Z",
          type: "arcpx.acme.cache.v1",
          payload: {}
        })
      )
      const refused = yield* read.next
      assert.deepStrictEqual([refused.type, field(refused, "code"), refused.correlation_id], [
        "nack",
        "UNIMPLEMENTED",
        "msg_cache"
      ])
      const plain = yield* open({ capabilities: { extensions: [] } })
      assert.deepStrictEqual(plain.capabilities.extensions, [], "a client offering none gets none")
      // the bundled client offers tool discovery unless told otherwise, and the runtime always has it
      assert.deepStrictEqual((yield* open()).capabilities.extensions, ["arcpx.arcp.tools.v1"])
    }).pipe(Effect.provide(server({ runtime: { extensions: ["arcpx.acme.deploy.v1", "arcpx.acme.cache.v1"] } }))))

  it.scoped("R9-2 the handshake (open, challenge, authenticate, accepted) is in the session's event log, in wire order, credentials redacted", () =>
    Effect.gen(function*() {
      const session = yield* open({
        credentials: { scheme: "signed_jwt", signer: jwtSigner({ subject: "agent-1", secret: SECRET }) }
      })
      const log = yield* EventLog
      const events = yield* readAll(log, { session_id: [session.id] })
      assert.deepStrictEqual(
        events.slice(0, 4).map((e) => `${e.direction} ${e.type}`),
        ["in session.open", "out session.challenge", "in session.authenticate", "out session.accepted"]
      )
      assert.isTrue(events.every((e) => e.session_id === session.id))
      // credentials never reach the log
      assert.strictEqual(
        Reflect.get(Object(Reflect.get(JSON.parse(events[2]?.json ?? "{}"), "payload")), "response"),
        "[redacted]"
      )
      const direct = yield* open()
      const [opened] = yield* readAll(log, { session_id: [direct.id] })
      assert.strictEqual(opened?.type, "session.open")
      assert.notInclude(opened?.json ?? "", "good-token")
    }).pipe(Effect.provide(server({ jwt: "nonce" }))))

  it.scopedLive("R8.3-2 after a fingerprint mismatch the runtime has dropped the session the client closed", () =>
    Effect.gen(function*() {
      const sessions = yield* Sessions
      const error = yield* Effect.flip(open({ pinFingerprint: "sha256:someone-else" }))
      assert.strictEqual(error._tag === "ClientError" ? error.reason : error._tag, "FingerprintMismatch")
      // the runtime unregisters it once the connection loop has wound down
      const live = yield* sessions.list.pipe(
        Effect.filterOrFail((list) => list.length === 0, (list) => `still live: ${list.map((s) => s.id).join(", ")}`),
        Effect.retry(Schedule.spaced("5 millis").pipe(Schedule.upTo("5 seconds")))
      )
      assert.strictEqual(live.length, 0)
    }).pipe(Effect.provide(server())))

  it.scopedLive("R8.5-1 R8.5-2 shutting the runtime down evicts every live session with UNAVAILABLE, allow_resume true (it may be taken back)", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(server(), scope)
      const sessions = yield* Effect.provide(Effect.all([open(), open()]), context)
      const evictions = yield* Effect.forEach(
        sessions,
        (s) =>
          Effect.flatMap(
            s.messages,
            (messages) => Effect.fork(collectUntil(messages, (m) => m.type === "session.evicted"))
          )
      )
      yield* Scope.close(scope, Exit.void)
      for (const [i, session] of sessions.entries()) {
        const ended = yield* session.ended
        assert.deepStrictEqual([ended.reason, ended.code], ["Evicted", "UNAVAILABLE"])
        const fiber = evictions[i]
        const evicted = fiber === undefined ? undefined : (yield* Fiber.join(fiber)).at(-1)
        assert.strictEqual(field(evicted, "allow_resume"), true)
      }
    }))
}
