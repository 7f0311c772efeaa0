/** The authenticator on its own (§4.6, §8.1–§8.4): bearer, signed_jwt, none, and the schemes not built. */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, TestClock } from "effect"
import * as jose from "jose"
import { createPrivateKey, createPublicKey, generateKeyPairSync } from "node:crypto"
import * as Auth from "../../src/runtime/auth/Auth.js"

const SECRET = "0123456789abcdef0123456789abcdef"
const AUDIENCE = "arcp://runtime"
/** The test's "now", in seconds: every token is dated against it and TestClock is set to it. */
const NOW = 1_800_000_000
const rsa = generateKeyPairSync("rsa", {
  modulusLength: 2048,
  publicKeyEncoding: { type: "spki", format: "pem" },
  privateKeyEncoding: { type: "pkcs8", format: "pem" }
})
const other = generateKeyPairSync("rsa", {
  modulusLength: 2048,
  publicKeyEncoding: { type: "spki", format: "pem" },
  privateKeyEncoding: { type: "pkcs8", format: "pem" }
})

interface Claims {
  readonly sub?: string | undefined
  readonly aud?: string | undefined
  readonly exp?: number | undefined
  readonly nbf?: number | undefined
  readonly nonce?: string | undefined
  readonly trust_level?: string | undefined
}

/** Signs `claims` (defaults: sub agent-1, our audience, issued now, expiring in 5 min) with HS256 or RS256. */
const sign = (
  claims: Claims = {},
  key: { readonly alg: "HS256" | "RS256"; readonly with?: string | undefined; readonly kid?: string } = { alg: "HS256" }
) =>
  Effect.promise(() => {
    const body = { sub: "agent-1", aud: AUDIENCE, iat: NOW, exp: NOW + 300, ...claims }
    const jwt = new jose.SignJWT(Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined)))
      .setProtectedHeader({ alg: key.alg, ...(key.kid !== undefined ? { kid: key.kid } : {}) })
    return key.alg === "HS256"
      ? jwt.sign(new TextEncoder().encode(key.with ?? SECRET))
      : jwt.sign(createPrivateKey(key.with ?? rsa.privateKey))
  })

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url")

/** Runs `body` against an authenticator built from `options`, with the clock at NOW. */
const withAuth = <A, E>(
  options: Partial<Auth.Options>,
  body: (auth: Auth.Authenticator["Type"]) => Effect.Effect<A, E>
) =>
  Effect.gen(function*() {
    yield* TestClock.setTime(NOW * 1000)
    return yield* body(yield* Auth.Authenticator)
  }).pipe(Effect.provide(Auth.layer({ audience: AUDIENCE, ...options })))

interface Verdict {
  readonly code?: string
  readonly message?: string
  readonly principal?: string
  readonly expiresAt?: number | undefined
  readonly challenge?: string
}

/** The principal of an accepted offer, the challenge asked, or the failure's code and message. */
const verdict = (
  step: Effect.Effect<Auth.AuthStep, { readonly code: string; readonly message: string }>
): Effect.Effect<Verdict> =>
  Effect.match(step, {
    onFailure: (e): Verdict => ({ code: e.code, message: e.message }),
    onSuccess: (s): Verdict => (s._tag === "Accept"
      ? { principal: s.principal.id, expiresAt: s.principal.expiresAt }
      : { challenge: s.challenge.type })
  })

const jwt = (auth: Auth.Authenticator["Type"], token: string) =>
  verdict(auth.begin({ scheme: "signed_jwt", token, anonymousNegotiated: false }))

describe("Authenticator", () => {
  it.effect("R4.6-1 bearer: each token of the table maps to its principal; wrong, empty, prefixed and missing tokens are refused", () =>
    withAuth(
      { bearer: new Map([["token-a", "alice"], ["token-b", "bob"], ["a-much-longer-token-c", "carol"]]) },
      (auth) =>
        Effect.gen(function*() {
          const begin = (token: string | undefined) =>
            verdict(auth.begin({ scheme: "bearer", token, anonymousNegotiated: false }))
          assert.deepStrictEqual(yield* begin("token-a"), { principal: "alice", expiresAt: undefined })
          assert.deepStrictEqual(yield* begin("token-b"), { principal: "bob", expiresAt: undefined })
          assert.deepStrictEqual(yield* begin("a-much-longer-token-c"), { principal: "carol", expiresAt: undefined })
          for (const token of ["token-", "token-a ", "TOKEN-A", "", undefined]) {
            assert.strictEqual((yield* begin(token)).code, "UNAUTHENTICATED", String(token))
          }
          // no table: the scheme is off
          const off = yield* verdict(
            Auth.make({ audience: AUDIENCE }).begin({ scheme: "bearer", token: "token-a", anonymousNegotiated: false })
          )
          assert.strictEqual(off.code, "UNAUTHENTICATED")
        })
    ))

  it.effect("R4.6-1 signed_jwt HS256: sub is the principal and exp bounds the lease", () =>
    withAuth({ jwt: { secret: SECRET } }, (auth) =>
      Effect.gen(function*() {
        assert.deepStrictEqual(yield* jwt(auth, yield* sign()), { principal: "agent-1", expiresAt: (NOW + 300) * 1000 })
        assert.match(String((yield* jwt(auth, yield* sign({ sub: "" }))).message), /sub/)
        assert.strictEqual(
          (yield* jwt(auth, yield* sign({}, { alg: "HS256", with: "another-secret-another-secret!!" }))).code,
          "UNAUTHENTICATED"
        )
      })))

  it.effect("R4.6-1 signed_jwt RS256 with a PEM public key, and with a JWKS (matched by kid)", () =>
    Effect.gen(function*() {
      const pem = yield* withAuth(
        { jwt: { publicKey: rsa.publicKey } },
        (auth) => Effect.flatMap(sign({}, { alg: "RS256" }), (token) => jwt(auth, token))
      )
      assert.strictEqual(pem.principal, "agent-1")
      const jwk = yield* Effect.promise(() => jose.exportJWK(createPublicKey(rsa.publicKey)))
      const jwks = { keys: [{ ...jwk, kid: "k1", alg: "RS256", use: "sig" }] }
      yield* withAuth({ jwt: { jwks } }, (auth) =>
        Effect.gen(function*() {
          assert.strictEqual((yield* jwt(auth, yield* sign({}, { alg: "RS256", kid: "k1" }))).principal, "agent-1")
          const stranger = yield* jwt(auth, yield* sign({}, { alg: "RS256", kid: "k1", with: other.privateKey }))
          assert.strictEqual(stranger.code, "UNAUTHENTICATED")
        }))
    }))

  it.effect("R4.6-1 nbf, exp and aud are checked on the Effect clock, and the error names the claim even with several keys", () =>
    withAuth({ jwt: { secret: SECRET, publicKey: rsa.publicKey } }, (auth) =>
      Effect.gen(function*() {
        // several keys are configured: the failure must still say nbf, not an algorithm mismatch of another key
        const early = yield* jwt(auth, yield* sign({ nbf: NOW + 600 }))
        assert.strictEqual(early.code, "UNAUTHENTICATED")
        assert.match(String(early.message), /nbf/)
        assert.notMatch(String(early.message), /ALG_NOT_ALLOWED/)
        const earlyRs = yield* jwt(auth, yield* sign({ nbf: NOW + 600 }, { alg: "RS256" }))
        assert.match(String(earlyRs.message), /nbf/)
        const expired = yield* jwt(auth, yield* sign({ exp: NOW - 60 }))
        assert.match(String(expired.message), /ERR_JWT_EXPIRED/)
        const elsewhere = yield* jwt(auth, yield* sign({ aud: "arcp://somebody-else" }))
        assert.match(String(elsewhere.message), /aud/)
        // a token valid now stops being valid when the clock passes exp (plus the 5 s tolerance)
        const token = yield* sign({ exp: NOW + 60 })
        assert.strictEqual((yield* jwt(auth, token)).principal, "agent-1")
        yield* TestClock.adjust("66 seconds")
        assert.match(String((yield* jwt(auth, token)).message), /ERR_JWT_EXPIRED/)
      })))

  it.effect("R4.6-1 alg none and HS/RS key confusion are refused before any key is tried", () =>
    withAuth({ jwt: { publicKey: rsa.publicKey } }, (auth) =>
      Effect.gen(function*() {
        const unsigned = `${base64url({ alg: "none", typ: "JWT" })}.${
          base64url({ sub: "agent-1", aud: AUDIENCE, exp: NOW + 60 })
        }.`
        const none = yield* jwt(auth, unsigned)
        assert.strictEqual(none.code, "UNAUTHENTICATED")
        assert.match(String(none.message), /none/)
        // HS256 keyed with the text of the runtime's RSA public key: no HMAC key is configured, so nothing verifies it
        const forged = yield* sign({}, { alg: "HS256", with: rsa.publicKey })
        const confused = yield* jwt(auth, forged)
        assert.strictEqual(confused.code, "UNAUTHENTICATED")
        assert.match(String(confused.message), /HS256/)
        assert.strictEqual((yield* jwt(auth, "not.a.jwt")).code, "UNAUTHENTICATED")
        assert.strictEqual((yield* jwt(auth, "")).code, "UNAUTHENTICATED")
      })))

  it.effect("R4.6-2 R8.2-3 anonymous is accepted only when the runtime allows it and the client negotiated it", () =>
    Effect.gen(function*() {
      const none = (allowAnonymous: boolean, anonymousNegotiated: boolean) =>
        verdict(Auth.make({ audience: AUDIENCE, allowAnonymous }).begin({ scheme: "none", anonymousNegotiated }))
      assert.strictEqual((yield* none(false, false)).code, "UNAUTHENTICATED")
      assert.strictEqual((yield* none(false, true)).code, "UNAUTHENTICATED")
      assert.strictEqual((yield* none(true, false)).code, "UNAUTHENTICATED")
      assert.strictEqual((yield* none(true, true)).principal, "anonymous")
      assert.isTrue(Auth.make({ audience: AUDIENCE, allowAnonymous: true }).allowsAnonymous)
      assert.isFalse(Auth.make({ audience: AUDIENCE }).allowsAnonymous)
    }))

  it.effect("R8.2-3 mtls and oauth2 not configured are refused UNAUTHENTICATED, naming the schemes accepted", () =>
    withAuth(
      { bearer: new Map([["t", "alice"]]), jwt: { secret: SECRET }, allowAnonymous: true },
      (auth) =>
        Effect.gen(function*() {
          for (const scheme of ["mtls", "oauth2"] as const) {
            const refused = yield* verdict(auth.begin({ scheme, token: "t", anonymousNegotiated: true }))
            assert.strictEqual(refused.code, "UNAUTHENTICATED", scheme)
            assert.include(refused.message, "it accepts bearer, signed_jwt, none", scheme)
          }
        })
    ))

  it.effect("R8.1-1 jwt_nonce: the signed nonce proves key possession; a wrong nonce or a token without one is refused", () =>
    withAuth({ jwt: { secret: SECRET, requireNonce: true } }, (auth) =>
      Effect.gen(function*() {
        const step = yield* auth.begin({ scheme: "signed_jwt", token: yield* sign(), anonymousNegotiated: false })
        assert.strictEqual(step._tag, "Challenge")
        if (step._tag !== "Challenge") return
        assert.strictEqual(step.challenge.type, "jwt_nonce")
        const nonce = String(step.challenge.params["nonce"])
        assert.strictEqual(step.challenge.params["audience"], AUDIENCE)
        const verify = (token: string) =>
          Effect.match(step.challenge.verify({ token }), { onFailure: (e) => e.code, onSuccess: (p) => p.id })
        assert.strictEqual(yield* verify(yield* sign({ nonce: "something-else" })), "UNAUTHENTICATED")
        assert.strictEqual(yield* verify(yield* sign()), "UNAUTHENTICATED")
        assert.strictEqual(yield* verify(yield* sign({ nonce })), "agent-1")
        assert.strictEqual(
          yield* Effect.match(step.challenge.verify("no token"), {
            onFailure: (e) => e.code,
            onSuccess: () => "accepted"
          }),
          "UNAUTHENTICATED"
        )
      })))

  it.effect("R8.4-1 R8.4-2 R9-5 refresh challenges: bearer_token for bearer, jwt_nonce for JWT, none for anonymous; another principal is refused", () =>
    withAuth(
      { bearer: new Map([["token-a", "alice"], ["token-b", "bob"]]), jwt: { secret: SECRET } },
      (auth) =>
        Effect.gen(function*() {
          const bearer = yield* auth.refresh({ id: "alice", scheme: "bearer" })
          assert.isTrue(Option.isSome(bearer))
          if (Option.isNone(bearer)) return
          assert.strictEqual(bearer.value.type, "bearer_token")
          const answer = (token: string) =>
            Effect.match(bearer.value.verify({ token }), { onFailure: (e) => e.code, onSuccess: (p) => p.id })
          assert.strictEqual(yield* answer("token-a"), "alice")
          assert.strictEqual(yield* answer("token-b"), "UNAUTHENTICATED", "re-authenticating as bob is refused")
          const signed = yield* auth.refresh({ id: "agent-1", scheme: "signed_jwt" })
          assert.strictEqual(Option.map(signed, (c) => c.type).pipe(Option.getOrUndefined), "jwt_nonce")
          assert.isTrue(Option.isNone(yield* auth.refresh({ id: "anonymous", scheme: "none" })))
        })
    ))

  it.effect("R4.6-1 trust levels (§15.3): a bearer principal's configured level, a JWT's trust_level claim (an unknown one is ignored)", () =>
    withAuth(
      {
        bearer: new Map([["token-a", "alice"], ["token-r", "root"]]),
        trustLevels: new Map([["root", "privileged"], ["agent-1", "constrained"]]),
        jwt: { secret: SECRET }
      },
      (auth) =>
        Effect.gen(function*() {
          const trust = (step: Effect.Effect<Auth.AuthStep, unknown>) =>
            Effect.map(step, (s) => (s._tag === "Accept" ? s.principal.trustLevel : "challenged"))
          const bearer = (token: string) => auth.begin({ scheme: "bearer", token, anonymousNegotiated: false })
          const signed = (token: string) => auth.begin({ scheme: "signed_jwt", token, anonymousNegotiated: false })
          assert.strictEqual(
            yield* trust(bearer("token-a")),
            undefined,
            "none configured: the runtime's default applies"
          )
          assert.strictEqual(yield* trust(bearer("token-r")), "privileged")
          assert.strictEqual(yield* trust(signed(yield* sign({ trust_level: "untrusted" }))), "untrusted")
          assert.strictEqual(yield* trust(signed(yield* sign({ trust_level: "root" }))), "constrained")
          assert.strictEqual(yield* trust(signed(yield* sign())), "constrained")
        })
    ))
})
