/**
 * The runtime-core contract (RFC §4.6, §7, §8, §21.3), as one suite run over
 * each transport: the handshake and its rejections, the pre-acceptance gate,
 * bad frames, unknown types, negotiation, pinning, close and isolation.
 */
import { assert, it } from "@effect/vitest"
import { Effect, Either, Layer, Logger, LogLevel, Queue, type Scope, Stream } from "effect"
import * as jose from "jose"
import { createPrivateKey, generateKeyPairSync } from "node:crypto"
import * as Client from "../../src/client/Client.js"
import { jwtSigner } from "../../src/client/Credentials.js"
import { make as makeEnvelope } from "../../src/protocol/Envelope.js"
import { type Decoded, decodeJson, encodeUnchecked } from "../../src/protocol/Message.js"
import * as Auth from "../../src/runtime/Auth.js"
import * as Runtime from "../../src/runtime/Runtime.js"
import type * as RuntimeConfig from "../../src/runtime/RuntimeConfig.js"
import * as Tools from "../../src/runtime/Tools.js"
import * as MemoryEventLog from "../../src/store/MemoryEventLog.js"
import type { Acceptor, Connection } from "../../src/transport/Transport.js"
import { dial, field } from "../support/Harness.js"

export const SECRET = "0123456789abcdef0123456789abcdef"
export const AUDIENCE = "arcp://runtime"
export const FINGERPRINT = "sha256:test-runtime"
export const rsa = generateKeyPairSync("rsa", { modulusLength: 2048, publicKeyEncoding: { type: "spki", format: "pem" }, privateKeyEncoding: { type: "pkcs8", format: "pem" } })

/** A server on `transport` with bearer, HS256 JWT (nonce challenge on request) and optional anonymous access. */
export const coreServer = <E>(transport: Layer.Layer<Acceptor, E>, options: {
  readonly runtime?: RuntimeConfig.Options
  readonly auth?: Partial<Auth.Options>
} = {}) =>
  Runtime.serve.pipe(
    Layer.provideMerge(Runtime.layer({ identity: { kind: "arcp-test", version: "9.9.9", fingerprint: FINGERPRINT }, ...options.runtime })),
    Layer.provide(Layer.mergeAll(
      Auth.layer({ audience: AUDIENCE, bearer: new Map([["good-token", "alice"]]), jwt: { secret: SECRET }, ...options.auth }),
      MemoryEventLog.layer,
      Tools.layer([])
    )),
    Layer.provideMerge(transport),
    Layer.provide(Logger.minimumLogLevel(LogLevel.None))
  )

const sign = (claims: jose.JWTPayload, options: { readonly audience?: string; readonly expires?: string } = {}) =>
  Effect.promise(() =>
    new jose.SignJWT(claims).setProtectedHeader({ alg: "HS256" }).setSubject("agent-1").setAudience(options.audience ?? AUDIENCE)
      .setIssuedAt().setExpirationTime(options.expires ?? "5m").sign(new TextEncoder().encode(SECRET)))

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url")

/** Reads decoded messages off a raw connection. */
export const reader = (connection: Connection) =>
  Effect.gen(function*() {
    const queue = yield* Queue.unbounded<Decoded>()
    yield* connection.incoming.pipe(
      Stream.runForEach((frame) => {
        if (frame._tag !== "Text") return Effect.void
        const decoded = decodeJson(frame.text)
        return Either.isRight(decoded) ? Queue.offer(queue, decoded.right) : Effect.void
      }),
      Effect.ignore,
      Effect.forkScoped
    )
    return { next: Queue.take(queue), queue }
  })

/** Opens a session on a raw connection by hand, returning the reader and the session id. */
export const rawSession = (connection: Connection, capabilities: Record<string, unknown> = {}) =>
  Effect.gen(function*() {
    const read = yield* reader(connection)
    const open = yield* makeEnvelope("session.open", { auth: { scheme: "bearer", token: "good-token" }, client: { kind: "raw", version: "1" }, capabilities })
    yield* connection.send(encodeUnchecked(open))
    const accepted = yield* read.next
    assert.strictEqual(accepted.type, "session.accepted")
    return { read, accepted }
  })

const codeOf = (error: unknown) =>
  typeof error === "object" && error !== null && "code" in error ? String(error.code) : typeof error === "object" && error !== null && "_tag" in error ? String(error._tag) : "?"

/** Connects a client with the given credentials and capabilities (failures come back as values). */
const attempt = (credentials: Client.ConnectOptions["credentials"], capabilities: Client.ConnectOptions["capabilities"] = {}) =>
  Effect.flatMap(dial, (connection) => Client.connect(connection, { credentials, capabilities })).pipe(Effect.either)

type ServerLayer = Layer.Layer<Acceptor | Runtime.Provided, unknown>

/** The suite, against a server built by `server` (the transport decides how clients dial). */
export const coreSuite = (server: (options?: Parameters<typeof coreServer>[1]) => ServerLayer) => {
  const withServer = <A, E>(body: Effect.Effect<A, E, Acceptor | Scope.Scope | Runtime.Provided>, options?: Parameters<typeof coreServer>[1]) =>
    Effect.provide(body, server(options))

  it.scopedLive("R7-1 R8.3-1 R8.2-3 direct accept: session.accepted with session id, runtime identity, capabilities, lease", () =>
    withServer(Effect.gen(function*() {
      const connection = yield* dial
      const { accepted } = yield* rawSession(connection, { durable_jobs: true })
      assert.isString(field(accepted, "session_id"))
      assert.deepStrictEqual(field(accepted, "runtime"), { kind: "arcp-test", version: "9.9.9", fingerprint: FINGERPRINT, trust_level: "trusted" })
      assert.isString(Reflect.get(Object(field(accepted, "lease")), "expires_at"))
      assert.isTrue(Reflect.get(Object(field(accepted, "capabilities")), "durable_jobs"))
      assert.isDefined(accepted.correlation_id)
    })))

  it.scopedLive("R8.1-1 challenge path: signed_jwt with a nonce challenge, answered with a signed nonce", () =>
    withServer(Effect.gen(function*() {
      const signer = jwtSigner({ subject: "agent-1", secret: SECRET })
      const session = yield* Effect.flatMap(dial, (c) => Client.connect(c, { credentials: { scheme: "signed_jwt", signer } }))
      assert.isString(session.id)
      // a wrong nonce is rejected
      const connection = yield* dial
      const read = yield* reader(connection)
      yield* connection.send(encodeUnchecked(yield* makeEnvelope("session.open", { auth: { scheme: "signed_jwt" }, client: { kind: "raw", version: "1" }, capabilities: {} })))
      const challenge = yield* read.next
      assert.strictEqual(challenge.type, "session.challenge")
      assert.strictEqual(field(challenge, "type"), "jwt_nonce")
      const challenge_id = field(challenge, "challenge_id")
      const token = yield* sign({ nonce: "not-the-nonce" })
      yield* connection.send(encodeUnchecked(yield* makeEnvelope("session.authenticate", { challenge_id: String(challenge_id) as never, response: { token } })))
      const verdict = yield* read.next
      assert.strictEqual(verdict.type, "session.rejected")
      assert.strictEqual(field(verdict, "code"), "UNAUTHENTICATED")
    }), { auth: { jwt: { secret: SECRET, requireNonce: true } } }))

  it.scopedLive("R4.6-2 R8.2-3 R7-3 rejections carry the right code", () =>
    withServer(Effect.gen(function*() {
      const expired = yield* sign({}, { expires: "-1m" })
      const wrongAudience = yield* sign({}, { audience: "arcp://somebody-else" })
      const unsigned = `${base64url({ alg: "none", typ: "JWT" })}.${base64url({ sub: "agent-1", aud: AUDIENCE })}.`
      const cases: ReadonlyArray<readonly [string, Effect.Effect<Either.Either<unknown, unknown>, never, Acceptor | Scope.Scope>, string]> = [
        ["wrong bearer token", attempt({ scheme: "bearer", token: "nope" }).pipe(Effect.orDie), "UNAUTHENTICATED"],
        ["expired JWT", attempt({ scheme: "signed_jwt", token: expired }).pipe(Effect.orDie), "UNAUTHENTICATED"],
        ["wrong audience", attempt({ scheme: "signed_jwt", token: wrongAudience }).pipe(Effect.orDie), "UNAUTHENTICATED"],
        ["alg none", attempt({ scheme: "signed_jwt", token: unsigned }).pipe(Effect.orDie), "UNAUTHENTICATED"],
        ["none without anonymous negotiated", attempt({ scheme: "none" }).pipe(Effect.orDie), "UNAUTHENTICATED"],
        ["required but unsupported", attempt({ scheme: "bearer", token: "good-token" }, { required: ["streaming"] }).pipe(Effect.orDie), "UNIMPLEMENTED"]
      ]
      for (const [name, run, code] of cases) {
        const result = yield* run
        assert.isTrue(Either.isLeft(result), name)
        if (Either.isLeft(result)) assert.strictEqual(codeOf(result.left), code, name)
      }
      // mtls / oauth2 for real: a raw open
      for (const scheme of ["mtls", "oauth2"] as const) {
        const connection = yield* dial
        const read = yield* reader(connection)
        yield* connection.send(encodeUnchecked(yield* makeEnvelope("session.open", { auth: { scheme, token: "t" }, client: { kind: "raw", version: "1", fingerprint: "sha256:c" }, capabilities: {} })))
        const verdict = yield* read.next
        assert.strictEqual(verdict.type, "session.rejected", scheme)
        assert.strictEqual(field(verdict, "code"), "UNIMPLEMENTED", scheme)
      }
    })))

  it.scopedLive("R4.6-2 R8.2-3 anonymous is accepted only when the runtime allows it AND the client negotiates it", () =>
    withServer(Effect.gen(function*() {
      const without = yield* attempt({ scheme: "none" })
      assert.strictEqual(Either.isLeft(without) ? codeOf(without.left) : "accepted", "UNAUTHENTICATED")
      const withIt = yield* attempt({ scheme: "none" }, { anonymous: true })
      assert.isTrue(Either.isRight(withIt))
    }), { auth: { allowAnonymous: true } }))

  it.scopedLive("R8.2-3 HS/RS key confusion: a runtime holding an RSA public key refuses an HS256 token signed with that key's text", () =>
    withServer(Effect.gen(function*() {
      const forged = yield* Effect.promise(() =>
        new jose.SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject("mallory").setAudience(AUDIENCE).setExpirationTime("5m")
          .sign(new TextEncoder().encode(rsa.publicKey)))
      const result = yield* attempt({ scheme: "signed_jwt", token: forged })
      assert.strictEqual(Either.isLeft(result) ? codeOf(result.left) : "accepted", "UNAUTHENTICATED")
      // the genuine RS256 token is accepted
      const genuine = yield* Effect.promise(() =>
        new jose.SignJWT({}).setProtectedHeader({ alg: "RS256" }).setSubject("agent-rs").setAudience(AUDIENCE).setExpirationTime("5m")
          .sign(createPrivateKey(rsa.privateKey)))
      assert.isTrue(Either.isRight(yield* attempt({ scheme: "signed_jwt", token: genuine })))
    }), { auth: { jwt: { publicKey: rsa.publicKey } } }))

  it.scopedLive("R4.6-1 R8.1-2 traffic before session.accepted is dropped, never executed; the handshake still works", () =>
    withServer(Effect.gen(function*() {
      const connection = yield* dial
      const read = yield* reader(connection)
      yield* connection.send(encodeUnchecked(yield* makeEnvelope("ping", {})))
      yield* connection.send(encodeUnchecked(yield* makeEnvelope("tool.invoke", { tool: "echo" })))
      const open = yield* makeEnvelope("session.open", { auth: { scheme: "bearer", token: "good-token" }, client: { kind: "raw", version: "1" }, capabilities: {} })
      yield* connection.send(encodeUnchecked(open))
      const first = yield* read.next
      assert.strictEqual(first.type, "session.accepted", "no pong and no job answer came before acceptance")
      const ping = yield* makeEnvelope("ping", {})
      yield* connection.send(encodeUnchecked(ping))
      const pong = yield* read.next
      assert.strictEqual(pong.type, "pong")
      assert.strictEqual(pong.correlation_id, ping.id)
    })))

  it.scopedLive("R21.3-3 R6.3-3 malformed JSON, a bad envelope and an oversized frame are nacked and the session lives on", () =>
    withServer(Effect.gen(function*() {
      const connection = yield* dial
      const { read } = yield* rawSession(connection)
      yield* connection.send("{ this is not json")
      const malformed = yield* read.next
      assert.strictEqual(malformed.type, "nack")
      assert.strictEqual(field(malformed, "code"), "INVALID_ARGUMENT")
      yield* connection.send(JSON.stringify({ arcp: "1.0", id: "msg_bad_1", timestamp: "2026-05-09T13:00:00Z", type: "cancel", payload: { target: "moon" } }))
      const bad = yield* read.next
      assert.strictEqual(bad.type, "nack")
      assert.strictEqual(bad.correlation_id, "msg_bad_1")
      assert.match(String(field(bad, "message")), /payload\.target/)
      yield* connection.send(JSON.stringify({ arcp: "1.0", id: "msg_big_1", timestamp: "2026-05-09T13:00:00Z", type: "ping", payload: { pad: "x".repeat(8192) } }))
      const big = yield* read.next
      assert.strictEqual(big.type, "nack")
      assert.strictEqual(field(big, "code"), "INVALID_ARGUMENT")
      assert.strictEqual(big.correlation_id, "msg_big_1")
      const ping = yield* makeEnvelope("ping", {})
      yield* connection.send(encodeUnchecked(ping))
      assert.strictEqual((yield* read.next).type, "pong")
    }), { runtime: { maxFrameBytes: 4096 } }))

  it.scopedLive("R21.3-1 R21.3-2 R21.2-2 R21.1-2 unknown types: core prefix nacked UNIMPLEMENTED, optional extension dropped, others nacked", () =>
    withServer(Effect.gen(function*() {
      const connection = yield* dial
      const { read } = yield* rawSession(connection)
      const send = (value: Record<string, unknown>) => connection.send(JSON.stringify({ arcp: "1.0", timestamp: "2026-05-09T13:00:00Z", payload: {}, ...value }))
      yield* send({ id: "msg_u1", type: "job.teleport" })
      const core = yield* read.next
      assert.deepStrictEqual([core.type, field(core, "code"), core.correlation_id], ["nack", "UNIMPLEMENTED", "msg_u1"])
      yield* send({ id: "msg_u2", type: "arcpx.acme.deploy.v1", extensions: { optional: true } })
      yield* send({ id: "msg_u3", type: "arcpx.acme.deploy.v1" })
      const extension = yield* read.next
      assert.deepStrictEqual([extension.type, field(extension, "code"), extension.correlation_id], ["nack", "UNIMPLEMENTED", "msg_u3"], "the optional one was dropped silently")
      yield* send({ id: "msg_u4", type: "ping", extensions: { "x-debug": true } })
      const experimental = yield* read.next
      assert.deepStrictEqual([experimental.type, field(experimental, "code")], ["nack", "INVALID_ARGUMENT"])
      yield* send({ id: "msg_u5", type: "ping" })
      assert.strictEqual((yield* read.next).type, "pong")
    })))

  it.scopedLive("R7-1 R7-2 R10.5-2 R11.3-6 capabilities are the intersection; absent means false; the interval is the smaller", () =>
    withServer(Effect.gen(function*() {
      const session = yield* Effect.flatMap(dial, (c) => Client.connect(c, {
        credentials: { scheme: "bearer", token: "good-token" },
        capabilities: { streaming: true, durable_jobs: true, interrupt: true, heartbeat_interval_seconds: 10 }
      }))
      assert.strictEqual(session.capabilities.streaming, false, "not supported by this runtime")
      assert.strictEqual(session.capabilities.durable_jobs, true)
      assert.strictEqual(session.capabilities.interrupt, true)
      assert.strictEqual(session.capabilities.anonymous, false)
      assert.strictEqual(session.capabilities.heartbeat_interval_seconds, 10)
      assert.deepStrictEqual(session.capabilities.binary_encoding, ["base64"], "the encodings the runtime supports are advertised")
      const plain = yield* Effect.flatMap(dial, (c) => Client.connect(c, { credentials: { scheme: "bearer", token: "good-token" } }))
      assert.strictEqual(plain.capabilities.durable_jobs, false, "the client did not offer it")
    })))

  it.scopedLive("R8.3-2 a pinned fingerprint refuses a different runtime", () =>
    withServer(Effect.gen(function*() {
      const wrong = yield* Effect.flatMap(dial, (c) =>
        Client.connect(c, { credentials: { scheme: "bearer", token: "good-token" }, pinFingerprint: "sha256:someone-else" })).pipe(Effect.flip)
      assert.strictEqual(wrong._tag === "ClientError" ? wrong.reason : wrong._tag, "FingerprintMismatch")
      const right = yield* Effect.flatMap(dial, (c) =>
        Client.connect(c, { credentials: { scheme: "bearer", token: "good-token" }, pinFingerprint: FINGERPRINT }))
      assert.isString(right.id)
    })))

  it.scopedLive("R9-9 R21.3-3 session.close is acknowledged and ends the connection; other sessions carry on", () =>
    withServer(Effect.gen(function*() {
      const other = yield* Effect.flatMap(dial, (c) => Client.connect(c, { credentials: { scheme: "bearer", token: "good-token" } }))
      const connection = yield* dial
      const { read } = yield* rawSession(connection)
      // garbage on one session does not disturb the other
      yield* connection.send("garbage")
      assert.strictEqual((yield* read.next).type, "nack")
      yield* other.ping
      const close = yield* makeEnvelope("session.close", { reason: "done" })
      yield* connection.send(encodeUnchecked(close))
      const ack = yield* read.next
      assert.deepStrictEqual([ack.type, ack.correlation_id], ["ack", close.id])
      yield* other.ping
    })))

  it.scopedLive("R10.4-5 cancel of the session itself ends it with session.evicted CANCELLED", () =>
    withServer(Effect.gen(function*() {
      const connection = yield* dial
      const { accepted, read } = yield* rawSession(connection)
      const cancel = yield* makeEnvelope("cancel", { target: "session", target_id: String(field(accepted, "session_id")) })
      yield* connection.send(encodeUnchecked(cancel))
      assert.strictEqual((yield* read.next).type, "cancel.accepted")
      const evicted = yield* read.next
      assert.deepStrictEqual([evicted.type, field(evicted, "reason")], ["session.evicted", "CANCELLED"])
    })))
}
