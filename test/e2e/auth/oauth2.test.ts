/**
 * OAuth 2.0 access tokens (RFC §8.2 `oauth2`) against a local authorization server on loopback:
 * JWTs verified with its JWKS (audience, issuer, scopes, key rotation), opaque tokens by
 * introspection (RFC 7662: cached, revocation, an endpoint that is down), scopes mapped to a
 * trust level and to permissions held without asking (§15), and re-authentication (§8.4).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, Layer, Logger, LogLevel, Option, Stream, TestClock } from "effect"
import * as DemoTools from "../../../src/cli/demoTools.js"
import * as ArcpClient from "../../../src/client/ArcpClient.js"
import * as Auth from "../../../src/runtime/auth/Auth.js"
import type { OAuth2Options } from "../../../src/runtime/auth/OAuth2.js"
import * as Server from "../../../src/runtime/Server.js"
import { Acceptor } from "../../../src/transport/Transport.js"
import * as AuthServer from "../../support/AuthServer.js"

const AUDIENCE = "arcp://runtime"

const codeOf = (e: unknown) => (typeof e === "object" && e !== null && "code" in e ? String(e.code) : "?")
const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e))

/** The authorization server for the life of the scope. */
const authServer = Effect.acquireRelease(
  Effect.promise(() => AuthServer.start(AUDIENCE)),
  (s) => Effect.promise(() => s.close())
)

const oauth2Options = (as: AuthServer.AuthServer, extra: Partial<OAuth2Options> = {}): OAuth2Options => ({
  issuer: AuthServer.ISSUER,
  jwksUrl: as.jwksUrl,
  jwksCooldownSeconds: 0,
  introspection: {
    url: as.introspectionUrl,
    clientId: AuthServer.CLIENT_ID,
    clientSecret: AuthServer.CLIENT_SECRET,
    cacheSeconds: 60
  },
  scopeTrust: new Map([["arcp:admin", "privileged"], ["arcp:agent", "constrained"]]),
  scopePermissions: new Map([["files", ["fs.*"]]]),
  ...extra
})

/** A runtime with the demo tools accepting oauth2 on WebSocket; runs `body` against its address. */
const withRuntime = <A, E, R>(
  oauth2: OAuth2Options,
  body: (address: string) => Effect.Effect<A, E, R>
) =>
  Effect.flatMap(Acceptor, ({ address }) => body(address)).pipe(
    Effect.provide(
      Server.layer({
        db: ":memory:",
        tools: DemoTools.all,
        auth: { oauth2 },
        transport: { kind: "ws", port: 0 }
      }).pipe(Layer.provide(Logger.minimumLogLevel(LogLevel.None)))
    )
  )

const open = (address: string, token: string) =>
  ArcpClient.connect(address, { credentials: { scheme: "oauth2", token } }).pipe(Effect.either)

const refusedWith = (result: Either.Either<unknown, unknown>, code: string, reason: string) => {
  assert.isTrue(Either.isLeft(result), reason)
  if (Either.isLeft(result)) {
    assert.strictEqual(codeOf(result.left), code, reason)
    assert.include(messageOf(result.left), reason)
  }
}

describe("R8.2-2 oauth2 against a local authorization server", () => {
  it.scopedLive(
    "R8.2-2 R15.3 JWT access tokens: JWKS, audience, issuer, required scope; scopes give the trust level",
    () =>
      Effect.gen(function*() {
        const as = yield* authServer
        yield* withRuntime(oauth2Options(as, { requiredScopes: ["arcp:agent"] }), (address) =>
          Effect.gen(function*() {
            const good = yield* open(address, yield* Effect.promise(() => as.jwt({ sub: "ada", scope: "arcp:agent" })))
            assert.isTrue(Either.isRight(good), Either.isLeft(good) ? messageOf(good.left) : "")
            if (Either.isRight(good)) assert.strictEqual(good.right.trustLevel, "constrained")
            const admin = yield* open(
              address,
              yield* Effect.promise(() => as.jwt({ sub: "root", scope: "arcp:agent arcp:admin" }))
            )
            if (Either.isRight(admin)) {
              assert.strictEqual(admin.right.trustLevel, "privileged", "the highest level wins")
            } else assert.fail(messageOf(admin.left))
            refusedWith(
              yield* open(
                address,
                yield* Effect.promise(() => as.jwt({ sub: "ada", scope: "arcp:agent", aud: "x" }))
              ),
              "UNAUTHENTICATED",
              "\"aud\""
            )
            refusedWith(
              yield* open(address, yield* Effect.promise(() => as.jwt({ sub: "ada", scope: "other" }))),
              "UNAUTHENTICATED",
              "lacks the scope arcp:agent"
            )
            refusedWith(
              yield* open(
                address,
                yield* Effect.promise(() => as.jwt({ sub: "ada", scope: "arcp:agent", expiresIn: "-1m" }))
              ),
              "UNAUTHENTICATED",
              "ERR_JWT_EXPIRED"
            )
          }))
      }),
    30_000
  )

  it.scopedLive(
    "R8.2-2 key rotation: a token of the new key is accepted (JWKS re-fetched), the retired key's refused",
    () =>
      Effect.gen(function*() {
        const as = yield* authServer
        yield* withRuntime(oauth2Options(as), (address) =>
          Effect.gen(function*() {
            const before = yield* Effect.promise(() => as.jwt({ sub: "ada" }))
            assert.isTrue(Either.isRight(yield* open(address, before)))
            yield* Effect.promise(() => as.rotate())
            const after = yield* Effect.promise(() => as.jwt({ sub: "ada" }))
            const rotated = yield* open(address, after)
            assert.isTrue(Either.isRight(rotated), Either.isLeft(rotated) ? messageOf(rotated.left) : "")
            refusedWith(yield* open(address, before), "UNAUTHENTICATED", "ERR_JWKS_NO_MATCHING_KEY")
          }))
      }),
    30_000
  )

  it.scopedLive(
    "R8.2-2 introspection (RFC 7662): opaque tokens accepted and cached, revoked ones refused",
    () =>
      Effect.gen(function*() {
        const as = yield* authServer
        yield* withRuntime(oauth2Options(as, { jwksUrl: undefined }), (address) =>
          Effect.gen(function*() {
            const token = as.opaque({ sub: "grace", scope: "arcp:agent" })
            const first = yield* open(address, token)
            assert.isTrue(Either.isRight(first), Either.isLeft(first) ? messageOf(first.left) : "")
            assert.isTrue(Either.isRight(yield* open(address, token)))
            assert.strictEqual(as.introspections(), 1, "the second session used the cached answer")
            const revoked = as.opaque({ sub: "grace" })
            as.revoke(revoked)
            refusedWith(yield* open(address, revoked), "UNAUTHENTICATED", "not active (revoked or expired)")
            refusedWith(yield* open(address, "never-issued"), "UNAUTHENTICATED", "not active")
          }))
      }),
    30_000
  )

  it.scopedLive(
    "R8.2-2 an introspection endpoint that is down answers UNAVAILABLE (retryable), not UNAUTHENTICATED",
    () =>
      Effect.gen(function*() {
        const as = yield* authServer
        const url = as.introspectionUrl
        yield* Effect.promise(() => as.close())
        yield* withRuntime(
          oauth2Options(as, {
            jwksUrl: undefined,
            introspection: { url, clientId: AuthServer.CLIENT_ID, clientSecret: AuthServer.CLIENT_SECRET }
          }),
          (address) =>
            Effect.gen(function*() {
              refusedWith(yield* open(address, "some-token"), "UNAVAILABLE", "introspection endpoint did not answer")
            })
        )
      }),
    30_000
  )

  it.scopedLive(
    "R15.4 a scope's permissions are held without asking: the guarded tool gets its lease at once",
    () =>
      Effect.gen(function*() {
        const as = yield* authServer
        yield* withRuntime(oauth2Options(as), (address) =>
          Effect.gen(function*() {
            const withFiles = yield* ArcpClient.connect(address, {
              credentials: {
                scheme: "oauth2",
                token: yield* Effect.promise(() => as.jwt({ sub: "ada", scope: "files" }))
              }
            })
            const messages = yield* withFiles.messages
            const job = yield* withFiles.invoke("guarded", {
              permission: "fs.write",
              resource: "file:/tmp/x",
              operation: "write"
            })
            const result = yield* job.outcome
            assert.include(JSON.stringify(result), "fs.write")
            const asked = yield* messages.pipe(
              Stream.takeUntil((m) => m.type === "tool.result" || m.type === "job.completed"),
              Stream.filter((m) => m.type === "permission.request"),
              Stream.runCount
            )
            assert.strictEqual(asked, 0, "the client was not asked")
          }))
      }),
    30_000
  )
})

describe("R8.2-2 R8.4 oauth2 in the authenticator (TestClock)", () => {
  it.scoped("introspection answers are reused until the cache bound, then a revocation is seen", () =>
    Effect.gen(function*() {
      const as = yield* authServer
      const auth = Auth.make({ audience: AUDIENCE, oauth2: oauth2Options(as, { jwksUrl: undefined }) })
      const token = as.opaque({ sub: "grace" })
      const begin = auth.begin({ scheme: "oauth2", token, anonymousNegotiated: false }).pipe(Effect.either)
      assert.isTrue(Either.isRight(yield* begin))
      as.revoke(token)
      assert.isTrue(Either.isRight(yield* begin), "still cached")
      assert.strictEqual(as.introspections(), 1)
      yield* TestClock.adjust("61 seconds")
      const after = yield* begin
      assert.isTrue(Either.isLeft(after))
      if (Either.isLeft(after)) assert.include(after.left.message, "not active")
    }))

  it.scoped("re-authentication asks for a fresh token of the same principal (oauth2_token)", () =>
    Effect.gen(function*() {
      const as = yield* authServer
      const auth = Auth.make({ audience: AUDIENCE, oauth2: oauth2Options(as, { jwksUrl: undefined }) })
      const challenge = yield* auth.refresh({ id: "grace", scheme: "oauth2" })
      assert.isTrue(Option.isSome(challenge))
      if (Option.isNone(challenge)) return
      assert.strictEqual(challenge.value.type, "oauth2_token")
      const fresh = yield* challenge.value.verify({ token: as.opaque({ sub: "grace", scope: "arcp:admin" }) })
      assert.deepStrictEqual([fresh.id, fresh.trustLevel], ["grace", "privileged"])
      const other = yield* challenge.value.verify({ token: as.opaque({ sub: "mallory" }) }).pipe(Effect.either)
      assert.isTrue(Either.isLeft(other))
    }))
})
