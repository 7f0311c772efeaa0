/**
 * Mutual TLS (RFC §8.2 `mtls`) over real TLS sockets on 127.0.0.1: wss:// and HTTP/2, client
 * certificates from a throwaway CA. Accepts a verified certificate whose fingerprint the client
 * names; refuses no certificate, an untrusted one, a mismatched fingerprint, each UNAUTHENTICATED
 * with its reason; `require` stops certificate-less clients at the TLS handshake; new material is
 * served without a restart. Needs the openssl binary.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, Layer, Logger, LogLevel, Queue, Stream } from "effect"
import * as ArcpClient from "../../../src/client/ArcpClient.js"
import * as Server from "../../../src/runtime/Server.js"
import { Sessions } from "../../../src/runtime/Sessions.js"
import type * as Tls from "../../../src/transport/Tls.js"
import { Acceptor } from "../../../src/transport/Transport.js"
import { hasOpenssl, issue, makeCa, makePki } from "../../support/Pki.js"

const pki = hasOpenssl ? makePki() : undefined

const codeOf = (e: unknown) => (typeof e === "object" && e !== null && "code" in e ? String(e.code) : "?")
const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e))

/** A runtime accepting mtls (principal per `principalFrom`) and a bearer token, on one TLS transport. */
const server = (
  transport: Server.TransportOptions,
  principalFrom: "cn" | "san:uri" = "cn"
) =>
  Server.layer({
    db: ":memory:",
    tools: [],
    auth: { mtls: { principalFrom }, bearer: new Map([["tok", "bob"]]) },
    transport
  }).pipe(Layer.provide(Logger.minimumLogLevel(LogLevel.None)))

const serverTls = (mode: Tls.ClientCertificateMode, reloads?: Tls.ServerTls["reloads"]): Tls.ServerTls => ({
  cert: pki?.server.cert ?? "",
  key: pki?.server.key ?? "",
  ca: pki?.ca.cert,
  clientCertificate: mode,
  reloads
})

/** Opens an mtls session to the server of the scope with `tls`, or fails with what the runtime said. */
const openMtls = (tls: Tls.ClientTls, fingerprint?: string) =>
  Effect.gen(function*() {
    const { address } = yield* Acceptor
    return yield* ArcpClient.connect(address, {
      credentials: { scheme: "mtls" },
      tls,
      ...(fingerprint !== undefined ? { client: { kind: "test", version: "1", fingerprint } } : {})
    })
  }).pipe(Effect.either)

const alice = () => ({ ca: pki?.ca.cert, cert: pki?.alice.cert, key: pki?.alice.key })

const principals = Effect.flatMap(
  Sessions,
  (s) =>
    Effect.flatMap(s.list, (list) => Effect.forEach(list, (h) => Effect.map(h.principal, (p) => `${p.scheme}:${p.id}`)))
)

describe.runIf(hasOpenssl)("R8.2-1 mtls over real TLS sockets (needs openssl)", () => {
  it.scopedLive("R8.2-1 wss://: a verified client certificate and its fingerprint open a session as the CN", () =>
    Effect.gen(function*() {
      const session = yield* openMtls(alice())
      assert.isTrue(Either.isRight(session), Either.isLeft(session) ? messageOf(session.left) : "")
      assert.deepStrictEqual(yield* principals, ["mtls:alice"])
      // the same certificate may name its fingerprint with colons and in upper case
      const colons = (pki?.alice.fingerprint ?? "").replace(/^sha256:/, "").toUpperCase().match(/../g)?.join(":")
      const again = yield* openMtls(alice(), `sha256:${colons}`)
      assert.isTrue(Either.isRight(again), Either.isLeft(again) ? messageOf(again.left) : "")
    }).pipe(Effect.provide(server({ kind: "ws", port: 0, tls: serverTls("request") }))))

  it.scopedLive("R8.2-1 the principal can come from a SAN (here the SPIFFE URI)", () =>
    Effect.gen(function*() {
      const session = yield* openMtls(alice())
      assert.isTrue(Either.isRight(session))
      assert.deepStrictEqual(yield* principals, ["mtls:spiffe://example.test/agent/alice"])
    }).pipe(Effect.provide(server({ kind: "ws", port: 0, tls: serverTls("request") }, "san:uri"))))

  it.scopedLive(
    "R8.2-1 R4.6-2 refused UNAUTHENTICATED with the reason: no certificate, an untrusted one, a mismatched fingerprint",
    () =>
      Effect.gen(function*() {
        const cases = [
          ["no certificate", yield* openMtls({ ca: pki?.ca.cert }, "sha256:00"), "presented none"],
          [
            "untrusted CA",
            yield* openMtls({ ca: pki?.ca.cert, cert: pki?.stranger.cert, key: pki?.stranger.key }),
            "not trusted by this runtime"
          ],
          ["wrong fingerprint", yield* openMtls(alice(), pki?.stranger.fingerprint), "does not match the certificate"]
        ] as const
        for (const [name, result, reason] of cases) {
          assert.isTrue(Either.isLeft(result), name)
          if (Either.isLeft(result)) {
            assert.strictEqual(codeOf(result.left), "UNAUTHENTICATED", name)
            assert.include(messageOf(result.left), reason, name)
          }
        }
        // the connection without a certificate still serves other schemes
        const { address } = yield* Acceptor
        const bearer = yield* ArcpClient.connect(address, {
          credentials: { scheme: "bearer", token: "tok" },
          tls: { ca: pki?.ca.cert }
        })
        assert.match(bearer.id, /^sess_/)
        assert.deepStrictEqual(yield* principals, ["bearer:bob"])
      }).pipe(Effect.provide(server({ kind: "ws", port: 0, tls: serverTls("request") }))),
    30_000
  )

  it.scopedLive("R8.2-1 require: a client without a certificate is stopped at the TLS handshake; alice gets in", () =>
    Effect.gen(function*() {
      const { address } = yield* Acceptor
      const refused = yield* ArcpClient.connect(address, {
        credentials: { scheme: "bearer", token: "tok" },
        tls: { ca: pki?.ca.cert }
      }).pipe(Effect.either)
      assert.isTrue(Either.isLeft(refused))
      if (Either.isLeft(refused)) assert.strictEqual(codeOf(refused.left), "?", "a transport failure, not a rejection")
      assert.isTrue(Either.isRight(yield* openMtls(alice())))
    }).pipe(Effect.provide(server({ kind: "ws", port: 0, tls: serverTls("require") }))))

  it.scopedLive("R8.2-1 R22-3 HTTP/2 over TLS: mtls accepted, a mismatched fingerprint refused", () =>
    Effect.gen(function*() {
      const accepted = yield* openMtls(alice())
      assert.isTrue(Either.isRight(accepted), Either.isLeft(accepted) ? messageOf(accepted.left) : "")
      const refused = yield* openMtls(alice(), "sha256:0000")
      assert.isTrue(Either.isLeft(refused))
      if (Either.isLeft(refused)) assert.include(messageOf(refused.left), "does not match")
      assert.deepStrictEqual(yield* principals, ["mtls:alice"])
    }).pipe(Effect.provide(server({ kind: "http2", port: 0, tls: serverTls("request") }))))

  it.scopedLive("rotation: new material is served to new connections without a restart", () =>
    Effect.gen(function*() {
      const reloads = yield* Queue.unbounded<Tls.TlsMaterial>()
      const next = makeCa("rotated CA")
      const rotated = issue(next, "localhost", ["DNS:localhost", "IP:127.0.0.1"], "serverAuth")
      yield* Effect.gen(function*() {
        const { address } = yield* Acceptor
        const dial = (ca: string | undefined) =>
          ArcpClient.connect(address, { credentials: { scheme: "bearer", token: "tok" }, tls: { ca } }).pipe(
            Effect.either
          )
        assert.isTrue(Either.isRight(yield* dial(pki?.ca.cert)), "the first certificate")
        yield* Queue.offer(reloads, { cert: rotated.cert, key: rotated.key, ca: pki?.ca.cert })
        // the rotation is applied in a fiber: wait until a client trusting only the new CA gets in
        yield* dial(next.cert).pipe(
          Effect.flatMap(Either.match({ onLeft: Effect.fail, onRight: Effect.succeed })),
          Effect.retry({ times: 50 })
        )
        assert.isTrue(Either.isLeft(yield* dial(pki?.ca.cert)), "the old certificate is no longer served")
      }).pipe(
        Effect.provide(server({ kind: "ws", port: 0, tls: serverTls("request", Stream.fromQueue(reloads)) }))
      )
    }), 30_000)
})
