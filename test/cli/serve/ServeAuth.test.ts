/** `arcp serve`'s mtls and oauth2 flags turned into the authenticator's options, and the sentence for each mistake. */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, Option } from "effect"
import * as ServeAuth from "../../../src/cli/serve/ServeAuth.js"

const flags: ServeAuth.Flags = {
  mtlsPrincipal: "cn",
  oauth2Issuer: Option.none(),
  oauth2JwksUrl: Option.none(),
  oauth2Audience: Option.none(),
  oauth2IntrospectionUrl: Option.none(),
  oauth2ClientId: Option.none(),
  oauth2ClientSecret: Option.none(),
  oauth2CacheSeconds: 60,
  oauth2Scope: [],
  oauth2ScopeTrust: [],
  oauth2ScopePermission: []
}
const resolve = (overrides: Partial<ServeAuth.Flags>) =>
  ServeAuth.resolve({ ...flags, ...overrides }, "arcp://runtime").pipe(Effect.either)
const refusal = (overrides: Partial<ServeAuth.Flags>) =>
  Effect.map(resolve(overrides), (r) => (Either.isLeft(r) ? r.left.message : "accepted"))

describe("arcp serve --mtls-* and --oauth2-* flags", () => {
  it.effect("mtls is on exactly when TLS asks for client certificates; oauth2 when a JWKS or introspection is given", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(Either.getOrThrow(yield* resolve({})), { mtls: undefined, oauth2: undefined })
      const on = Either.getOrThrow(
        yield* resolve({
          tlsClientCert: Option.some("request"),
          mtlsPrincipal: "san:uri",
          oauth2JwksUrl: Option.some("https://as.example/jwks"),
          oauth2IntrospectionUrl: Option.some("https://as.example/introspect"),
          oauth2ClientId: Option.some("rt"),
          oauth2ClientSecret: Option.some("s"),
          oauth2Scope: ["arcp"],
          oauth2ScopeTrust: ["admin=privileged"],
          oauth2ScopePermission: ["files=fs.read, fs.write", "files=net.*"]
        })
      )
      assert.deepStrictEqual(on.mtls, { principalFrom: "san:uri" })
      assert.strictEqual(on.oauth2?.audience, "arcp://runtime")
      assert.deepStrictEqual(on.oauth2?.requiredScopes, ["arcp"])
      assert.deepStrictEqual([...(on.oauth2?.scopeTrust ?? [])], [["admin", "privileged"]])
      assert.deepStrictEqual([...(on.oauth2?.scopePermissions ?? [])], [["files", ["fs.read", "fs.write", "net.*"]]])
      assert.deepStrictEqual(on.oauth2?.introspection, {
        url: "https://as.example/introspect",
        clientId: "rt",
        clientSecret: "s",
        cacheSeconds: 60
      })
    }))

  it.effect("each mistake is one sentence saying what to do", () =>
    Effect.gen(function*() {
      assert.match(
        yield* refusal({ oauth2JwksUrl: Option.some("not a url") }),
        /--oauth2-jwks-url expects an http\(s\) URL/
      )
      assert.match(
        yield* refusal({ oauth2IntrospectionUrl: Option.some("https://as/introspect") }),
        /needs --oauth2-client-id and --oauth2-client-secret/
      )
      assert.match(
        yield* refusal({ oauth2JwksUrl: Option.some("https://as/jwks"), oauth2ScopeTrust: ["admin=root"] }),
        /the level is one of untrusted, constrained, trusted, privileged/
      )
      assert.match(
        yield* refusal({ oauth2JwksUrl: Option.some("https://as/jwks"), oauth2ScopePermission: ["files"] }),
        /expects SCOPE=VALUE/
      )
      assert.match(
        yield* refusal({ oauth2ScopeTrust: ["a=trusted"] }),
        /need --oauth2-jwks-url or --oauth2-introspection-url/
      )
    }))
})
