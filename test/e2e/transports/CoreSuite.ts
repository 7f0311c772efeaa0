/**
 * The runtime-core contract (RFC §4.6, §7, §8, §21), as one suite run over
 * each transport — memory, WebSocket, and stdio to a spawned `arcp serve`: the
 * handshake and its rejections, the pre-acceptance gate, bad frames, unknown
 * types, negotiation, pinning, close. In-process targets add `SessionSuite`.
 */
import { assert, it } from "@effect/vitest"
import { Deferred, Effect, Either, type Layer, Queue, type Scope } from "effect"
import * as jose from "jose"
import { createPrivateKey } from "node:crypto"
import * as Client from "../../../src/client/Client.js"
import { jwtSigner } from "../../../src/client/Credentials.js"
import { make as makeEnvelope } from "../../../src/protocol/Envelope.js"
import { SessionId } from "../../../src/protocol/Ids.js"
import {
  AUDIENCE,
  expectNack,
  FINGERPRINT,
  IDENTITY,
  type InProcess,
  rawSession,
  reader,
  rsa,
  SECRET,
  sendEnvelope,
  sendRaw,
  sign,
  type SuiteOptions
} from "../../support/CoreServer.js"
import { dial, type Dialer, spy } from "../../support/Dialer.js"
import { field } from "../../support/Harness.js"
import { sessionSuite } from "./SessionSuite.js"

/** Where the suite runs: how to start a server for some options and dial it. */
export interface Target {
  readonly server: (options?: SuiteOptions) => Layer.Layer<Dialer, unknown>
  /** The same server in this process, exposing its services (timers under TestClock, the event log). Absent for a child process. */
  readonly inProcess?: ((options?: SuiteOptions) => Layer.Layer<Dialer | InProcess, unknown>) | undefined
  /** Per-test timeout in ms (spawning children is slow). */
  readonly timeout?: number | undefined
}

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url")

const codeOf = (error: unknown) =>
  typeof error === "object" && error !== null && "code" in error
    ? String(error.code)
    : typeof error === "object" && error !== null && "_tag" in error
    ? String(error._tag)
    : "?"

/** Connects a client with the given credentials and capabilities (failures come back as values). */
const attempt = (
  credentials: Client.ConnectOptions["credentials"],
  capabilities: Client.ConnectOptions["capabilities"] = {}
) => Effect.flatMap(dial, (connection) => Client.connect(connection, { credentials, capabilities })).pipe(Effect.either)

const bearer = { scheme: "bearer", token: "good-token" } as const

/** Registers the suite against `target`. */
export const coreSuite = (target: Target) => {
  const timeout = target.timeout ?? 20_000
  const withServer = <A, E>(body: Effect.Effect<A, E, Dialer | Scope.Scope>, options?: SuiteOptions) =>
    Effect.provide(body, target.server(options))

  it.scopedLive(
    "R7-1 R8.3-1 R8.2-3 direct accept: session.accepted with session id, runtime identity, capabilities, lease",
    () =>
      withServer(Effect.gen(function*() {
        const connection = yield* dial
        const { accepted, open } = yield* rawSession(connection, { durable_jobs: true })
        assert.isString(field(accepted, "session_id"))
        assert.deepStrictEqual(field(accepted, "runtime"), IDENTITY)
        assert.isString(Reflect.get(Object(field(accepted, "lease")), "expires_at"))
        assert.isTrue(Reflect.get(Object(field(accepted, "capabilities")), "durable_jobs"))
        assert.strictEqual(accepted.correlation_id, open.id)
      })),
    timeout
  )

  it.scopedLive(
    "R8.1-1 challenge path: a jwt_nonce challenge answered with a signed nonce; the client sends nothing else before acceptance",
    () =>
      withServer(
        Effect.gen(function*() {
          const signer = jwtSigner({ subject: "agent-1", secret: SECRET })
          const watched = spy(yield* dial)
          const session = yield* Client.connect(watched.connection, { credentials: { scheme: "signed_jwt", signer } })
          yield* session.ping
          const acceptedAt = watched.seen.findIndex((s) => s.direction === "in" && s.type === "session.accepted")
          assert.isAbove(acceptedAt, 0)
          const before = watched.seen.slice(0, acceptedAt)
          assert.deepStrictEqual(before.map((s) => `${s.direction} ${s.type}`), [
            "out session.open",
            "in session.challenge",
            "out session.authenticate"
          ])
          assert.include(
            watched.seen.slice(acceptedAt).map((s) => s.type),
            "ping",
            "ordinary traffic only after acceptance"
          )
          // a wrong nonce is rejected
          const connection = yield* dial
          const read = yield* reader(connection)
          yield* sendEnvelope(
            connection,
            makeEnvelope("session.open", {
              auth: { scheme: "signed_jwt" },
              client: { kind: "raw", version: "1" },
              capabilities: {}
            })
          )
          const challenge = yield* read.next
          assert.strictEqual(challenge.type, "session.challenge")
          assert.strictEqual(field(challenge, "type"), "jwt_nonce")
          const challenge_id = field(challenge, "challenge_id")
          const token = yield* sign({ nonce: "not-the-nonce" })
          yield* sendEnvelope(
            connection,
            makeEnvelope("session.authenticate", {
              challenge_id: String(challenge_id) as never,
              response: { token }
            })
          )
          const verdict = yield* read.next
          assert.strictEqual(verdict.type, "session.rejected")
          assert.strictEqual(field(verdict, "code"), "UNAUTHENTICATED")
        }),
        { jwt: "nonce" }
      ),
    timeout
  )

  it.scopedLive(
    "R4.6-2 R8.2-3 R7-3 rejections carry the right code: wrong token, expired JWT, wrong audience, alg none, none not negotiated, unmet requirement, mtls and oauth2 not enabled",
    () =>
      withServer(Effect.gen(function*() {
        const expired = yield* sign({}, { expires: "-1m" })
        const wrongAudience = yield* sign({}, { audience: "arcp://somebody-else" })
        const unsigned = `${base64url({ alg: "none", typ: "JWT" })}.${base64url({ sub: "agent-1", aud: AUDIENCE })}.`
        const cases: ReadonlyArray<
          readonly [string, Effect.Effect<Either.Either<unknown, unknown>, unknown, Dialer | Scope.Scope>, string]
        > = [
          ["wrong bearer token", attempt({ scheme: "bearer", token: "nope" }), "UNAUTHENTICATED"],
          ["expired JWT", attempt({ scheme: "signed_jwt", token: expired }), "UNAUTHENTICATED"],
          ["wrong audience", attempt({ scheme: "signed_jwt", token: wrongAudience }), "UNAUTHENTICATED"],
          ["alg none", attempt({ scheme: "signed_jwt", token: unsigned }), "UNAUTHENTICATED"],
          ["none without anonymous negotiated", attempt({ scheme: "none" }), "UNAUTHENTICATED"],
          ["required but unsupported", attempt(bearer, { required: ["arcpx.nobody.v1"] }), "UNIMPLEMENTED"]
        ]
        for (const [name, run, code] of cases) {
          const result = yield* run
          assert.isTrue(Either.isLeft(result), name)
          if (Either.isLeft(result)) assert.strictEqual(codeOf(result.left), code, name)
        }
        for (const scheme of ["mtls", "oauth2"] as const) {
          const connection = yield* dial
          const read = yield* reader(connection)
          yield* sendEnvelope(
            connection,
            makeEnvelope("session.open", {
              auth: { scheme, token: "t" },
              client: { kind: "raw", version: "1", fingerprint: "sha256:c" },
              capabilities: {}
            })
          )
          const verdict = yield* read.next
          assert.strictEqual(verdict.type, "session.rejected", scheme)
          // not configured on this runtime: refused, naming the schemes it does accept
          assert.strictEqual(field(verdict, "code"), "UNAUTHENTICATED", scheme)
          assert.include(String(field(verdict, "message")), `${scheme} is not enabled on this runtime`, scheme)
          assert.include(String(field(verdict, "message")), "bearer, signed_jwt", scheme)
        }
      })),
    timeout * 2
  )

  it.scopedLive(
    "R4.6-2 R8.2-3 anonymous is accepted only when the runtime allows it AND the client negotiates it",
    () =>
      withServer(
        Effect.gen(function*() {
          const without = yield* attempt({ scheme: "none" })
          assert.strictEqual(Either.isLeft(without) ? codeOf(without.left) : "accepted", "UNAUTHENTICATED")
          const withIt = yield* attempt({ scheme: "none" }, { anonymous: true })
          assert.isTrue(Either.isRight(withIt))
        }),
        { allowAnonymous: true }
      ),
    timeout
  )

  it.scopedLive(
    "R8.2-3 HS/RS key confusion: a runtime holding an RSA public key refuses an HS256 token signed with that key's text",
    () =>
      withServer(
        Effect.gen(function*() {
          const forged = yield* Effect.promise(() =>
            new jose.SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject("mallory").setAudience(AUDIENCE)
              .setExpirationTime("5m")
              .sign(new TextEncoder().encode(rsa.publicKey))
          )
          const result = yield* attempt({ scheme: "signed_jwt", token: forged })
          assert.strictEqual(Either.isLeft(result) ? codeOf(result.left) : "accepted", "UNAUTHENTICATED")
          // the genuine RS256 token is accepted
          const genuine = yield* Effect.promise(() =>
            new jose.SignJWT({}).setProtectedHeader({ alg: "RS256" }).setSubject("agent-rs").setAudience(AUDIENCE)
              .setExpirationTime("5m")
              .sign(createPrivateKey(rsa.privateKey))
          )
          assert.isTrue(Either.isRight(yield* attempt({ scheme: "signed_jwt", token: genuine })))
        }),
        { jwt: "rsa" }
      ),
    timeout
  )

  it.scopedLive(
    "R4.6-1 R8.1-2 traffic before session.accepted is dropped, never executed; the handshake still works",
    () =>
      withServer(Effect.gen(function*() {
        const connection = yield* dial
        const read = yield* reader(connection)
        yield* sendEnvelope(connection, makeEnvelope("ping", {}))
        yield* sendEnvelope(connection, makeEnvelope("tool.invoke", { tool: "echo" }))
        yield* sendEnvelope(
          connection,
          makeEnvelope("session.open", {
            auth: { scheme: "bearer", token: "good-token" },
            client: { kind: "raw", version: "1" },
            capabilities: {}
          })
        )
        const first = yield* read.next
        assert.strictEqual(first.type, "session.accepted", "no pong and no job answer came before acceptance")
        const ping = yield* sendRaw(connection, { id: "msg_after_accept", type: "ping", session_id: first.session_id })
          .pipe(Effect.as({ id: "msg_after_accept" }))
        const pong = yield* read.next
        assert.strictEqual(pong.type, "pong")
        assert.strictEqual(pong.correlation_id, ping.id)
      })),
    timeout
  )

  it.scopedLive(
    "R21.3-3 R6.3-3 malformed JSON, a bad envelope and an oversized frame are nacked (with the id when readable) and the session lives on",
    () =>
      withServer(
        Effect.gen(function*() {
          const connection = yield* dial
          const { read, send, sessionId } = yield* rawSession(connection)
          yield* connection.send("{ this is not json")
          const malformed = yield* expectNack(read, "INVALID_ARGUMENT")
          assert.isUndefined(malformed.correlation_id, "no id to name")
          yield* connection.send(`{"arcp":"1.0","id":"msg_broken_1","type":"ping","payload":{`)
          const broken = yield* expectNack(read, "INVALID_ARGUMENT", "msg_broken_1")
          assert.strictEqual(field(broken, "ack_for"), "msg_broken_1")
          yield* connection.send(
            JSON.stringify({
              arcp: "1.0",
              id: "msg_bad_1",
              session_id: sessionId,
              timestamp: "2026-05-09T13:00:00Z",
              type: "cancel",
              payload: { target: "moon" }
            })
          )
          const bad = yield* read.next
          assert.strictEqual(bad.type, "nack")
          assert.strictEqual(bad.correlation_id, "msg_bad_1")
          assert.match(String(field(bad, "message")), /payload\.target/)
          yield* connection.send(
            JSON.stringify({
              arcp: "1.0",
              id: "msg_big_1",
              session_id: sessionId,
              timestamp: "2026-05-09T13:00:00Z",
              type: "ping",
              payload: { pad: "x".repeat(8192) }
            })
          )
          yield* expectNack(read, "INVALID_ARGUMENT", "msg_big_1")
          yield* send(makeEnvelope("ping", {}))
          assert.strictEqual((yield* read.next).type, "pong")
        }),
        { maxFrameBytes: 4096 }
      ),
    timeout
  )

  it.scopedLive(
    "R21.3-3 R6.3-3 JSON nesting past the limit (64) — the whole frame, the id, a payload — is nacked INVALID_ARGUMENT before and after session.open; the session lives on",
    () =>
      withServer(Effect.gen(function*() {
        const deep = (levels: number) => "[".repeat(levels) + "]".repeat(levels)
        const connection = yield* dial
        const read = yield* reader(connection)
        // before session.open: ~10 KB, 5,000 levels, as the whole frame and as the id
        yield* connection.send(deep(5000))
        const whole = yield* expectNack(read, "INVALID_ARGUMENT")
        assert.match(String(field(whole, "message")), /deeper than 64 levels/)
        yield* connection.send(`{"arcp":"1.0","id":${deep(5000)},"type":"ping","timestamp":"2026-05-09T13:00:00Z"}`)
        yield* expectNack(read, "INVALID_ARGUMENT")
        yield* sendEnvelope(
          connection,
          makeEnvelope("session.open", {
            auth: { scheme: "bearer", token: "good-token" },
            client: { kind: "raw", version: "1" },
            capabilities: {}
          })
        )
        const accepted = yield* read.next
        assert.strictEqual(accepted.type, "session.accepted")
        const sessionId = String(field(accepted, "session_id"))
        // after it: the same, and a readable id is named
        yield* connection.send(deep(5000))
        yield* expectNack(read, "INVALID_ARGUMENT")
        yield* connection.send(`{"arcp":"1.0","id":${deep(5000)},"type":"ping","timestamp":"2026-05-09T13:00:00Z"}`)
        yield* expectNack(read, "INVALID_ARGUMENT")
        yield* connection.send(
          `{"arcp":"1.0","id":"msg_deep_1","type":"ping","session_id":"${sessionId}","timestamp":"2026-05-09T13:00:00Z","payload":{"a":${
            deep(65)
          }}}`
        )
        yield* expectNack(read, "INVALID_ARGUMENT", "msg_deep_1")
        // 64 levels exactly (the envelope, the payload and 62 more) is within the limit
        yield* connection.send(
          `{"arcp":"1.0","id":"msg_deep_2","type":"ping","session_id":"${sessionId}","timestamp":"2026-05-09T13:00:00Z","payload":{"a":${
            deep(62)
          }}}`
        )
        const pong = yield* read.next
        assert.deepStrictEqual([pong.type, pong.correlation_id], ["pong", "msg_deep_2"])
        // a huge but shallow id is refused with a short answer: no error path echoes it whole
        yield* connection.send(
          `{"arcp":"1.0","id":[${"1,".repeat(100_000)}1],"type":"ping","timestamp":"2026-05-09T13:00:00Z","payload":{}}`
        )
        const wide = yield* expectNack(read, "INVALID_ARGUMENT")
        assert.isBelow(JSON.stringify(wide).length, 4096)
        yield* sendEnvelope(connection, makeEnvelope("ping", {}, { session_id: SessionId.make(sessionId) }))
        assert.strictEqual((yield* read.next).type, "pong")
      })),
    timeout
  )

  it.scopedLive(
    "R4.4-2 a major version this runtime does not speak (9.9) is refused naming 1.0 — session.rejected on open, nack afterwards; a later 1.x minor is served",
    () =>
      withServer(Effect.gen(function*() {
        const refused = yield* dial
        const early = yield* reader(refused)
        yield* sendRaw(refused, {
          arcp: "9.9",
          id: "msg_v1",
          type: "session.open",
          payload: {
            auth: { scheme: "bearer", token: "good-token" },
            client: { kind: "raw", version: "1" },
            capabilities: {}
          }
        })
        const rejected = yield* early.next
        assert.deepStrictEqual([rejected.type, field(rejected, "code"), rejected.correlation_id], [
          "session.rejected",
          "UNIMPLEMENTED",
          "msg_v1"
        ])
        assert.match(String(field(rejected, "message")), /9\.9 is not supported: this runtime speaks ARCP 1\.0/)
        const session = yield* rawSession(yield* dial)
        const read = session.read
        yield* session.sendRaw({ arcp: "9.9", id: "msg_v2", type: "ping" })
        const nack = yield* expectNack(read, "UNIMPLEMENTED", "msg_v2")
        assert.match(String(field(nack, "message")), /ARCP 1\.0/)
        yield* session.sendRaw({ arcp: "1.7", id: "msg_v3", type: "ping" })
        const pong = yield* read.next
        assert.deepStrictEqual([pong.type, pong.correlation_id, pong.arcp], ["pong", "msg_v3", "1.0"])
      })),
    timeout
  )

  it.scopedLive(
    "R21.3-1 R21.3-2 R21.2-2 R21.1-2 unknown types: core prefix nacked UNIMPLEMENTED, optional extension dropped, others nacked",
    () =>
      withServer(Effect.gen(function*() {
        const connection = yield* dial
        const { read, sendRaw: send } = yield* rawSession(connection)
        yield* send({ id: "msg_u1", type: "job.teleport" })
        yield* expectNack(read, "UNIMPLEMENTED", "msg_u1")
        yield* send({ id: "msg_u2", type: "arcpx.acme.deploy.v1", extensions: { optional: true } })
        yield* send({ id: "msg_u3", type: "arcpx.acme.deploy.v1" })
        // msg_u3, not msg_u2: the optional one was dropped silently
        yield* expectNack(read, "UNIMPLEMENTED", "msg_u3")
        yield* send({ id: "msg_u4", type: "ping", extensions: { "x-debug": true } })
        yield* expectNack(read, "INVALID_ARGUMENT")
        yield* send({ id: "msg_u5", type: "ping" })
        assert.strictEqual((yield* read.next).type, "pong")
      })),
    timeout
  )

  it.scopedLive(
    "R21.1-2 a session.open naming a bare x- extension in capabilities.extensions is rejected INVALID_ARGUMENT",
    () =>
      withServer(Effect.gen(function*() {
        const result = yield* attempt(bearer, { extensions: ["x-acme-debug", "arcpx.acme.deploy.v1"] })
        assert.isTrue(Either.isLeft(result))
        if (Either.isLeft(result)) {
          assert.strictEqual(codeOf(result.left), "INVALID_ARGUMENT")
          assert.match(String(Reflect.get(Object(result.left), "message")), /x-acme-debug/)
        }
      })),
    timeout
  )

  it.scopedLive(
    "R7-1 R7-2 R10.5-2 R11.3-6 capabilities are the intersection; absent means false; the interval is the smaller",
    () =>
      withServer(Effect.gen(function*() {
        const session = yield* Effect.flatMap(dial, (c) =>
          Client.connect(c, {
            credentials: bearer,
            capabilities: {
              subscriptions: true,
              durable_jobs: true,
              interrupt: true,
              heartbeat_interval_seconds: 10,
              binary_encoding: ["base64"]
            }
          }))
        assert.strictEqual(session.capabilities.subscriptions, true, "offered by both sides")
        assert.strictEqual(session.capabilities.durable_jobs, true)
        assert.strictEqual(session.capabilities.interrupt, true)
        assert.strictEqual(session.capabilities.anonymous, false)
        assert.strictEqual(session.capabilities.heartbeat_interval_seconds, 10)
        assert.deepStrictEqual(
          session.capabilities.binary_encoding,
          ["base64"],
          "the encodings both sides support"
        )
        const plain = yield* Effect.flatMap(dial, (c) => Client.connect(c, { credentials: bearer }))
        assert.strictEqual(plain.capabilities.durable_jobs, false, "the client did not offer it")
      })),
    timeout
  )

  it.scopedLive(
    "R8.3-2 a pinned fingerprint refuses a different runtime: the client closes the session politely and fails FingerprintMismatch",
    () =>
      withServer(Effect.gen(function*() {
        const watched = spy(yield* dial)
        const wrong = yield* Client.connect(watched.connection, {
          credentials: bearer,
          pinFingerprint: "sha256:someone-else"
        }).pipe(Effect.flip)
        assert.strictEqual(wrong._tag === "ClientError" ? wrong.reason : wrong._tag, "FingerprintMismatch")
        const close = watched.seen.find((s) => s.direction === "out" && s.type === "session.close")
        assert.isDefined(close, "session.close was sent before hanging up")
        assert.isTrue(
          watched.seen.some((s) => s.direction === "in" && s.type === "ack" && s.correlationId === close?.id),
          "the runtime acknowledged the close"
        )
        const right = yield* Effect.flatMap(dial, (c) =>
          Client.connect(c, { credentials: bearer, pinFingerprint: FINGERPRINT }))
        assert.isString(right.id)
      })),
    timeout
  )

  it.scopedLive(
    "R9-9 R21.3-3 session.close is acknowledged and ends the connection; other sessions carry on",
    () =>
      withServer(Effect.gen(function*() {
        const other = yield* Effect.flatMap(dial, (c) => Client.connect(c, { credentials: bearer }))
        const connection = yield* dial
        const { read, send } = yield* rawSession(connection)
        // garbage on one session does not disturb the other
        yield* connection.send("garbage")
        assert.strictEqual((yield* read.next).type, "nack")
        yield* other.ping
        assert.isFalse(yield* Deferred.isDone(read.ended), "the connection is open before the close")
        const close = yield* send(makeEnvelope("session.close", { reason: "done" }))
        const ack = yield* read.next
        assert.deepStrictEqual([ack.type, ack.correlation_id], ["ack", close.id])
        // the runtime hangs up: the incoming stream ends (generous: over stdio the child must wind down)
        const hungUp = yield* Deferred.await(read.ended).pipe(Effect.timeout("15 seconds"), Effect.either)
        assert.isTrue(Either.isRight(hungUp), "the connection ended after session.close")
        assert.strictEqual(yield* Queue.size(read.queue), 0, "nothing followed the ack")
        yield* other.ping
      })),
    timeout
  )

  it.scopedLive(
    "R10.4-5 cancel of the session itself ends it with session.evicted, reason cancelled (§10.4's spelling)",
    () =>
      withServer(Effect.gen(function*() {
        const connection = yield* dial
        const { accepted, read, send } = yield* rawSession(connection)
        yield* send(
          makeEnvelope("cancel", {
            target: "session",
            target_id: String(field(accepted, "session_id"))
          })
        )
        assert.strictEqual((yield* read.next).type, "cancel.accepted")
        const evicted = yield* read.next
        assert.deepStrictEqual([evicted.type, field(evicted, "reason")], ["session.evicted", "cancelled"])
      })),
    timeout
  )

  if (target.inProcess !== undefined) sessionSuite(target.inProcess)
}
