/**
 * `arcp serve`'s flags for the enterprise schemes of §8.2: `mtls` (on when TLS asks for client
 * certificates) and `oauth2` (a JWKS and/or an introspection endpoint, scope mappings), turned
 * into the authenticator's options with one clear sentence per mistake.
 */
import { Options } from "@effect/cli"
import { Config, Effect, Option } from "effect"
import type { TrustLevel } from "../../protocol/messages/Common.js"
import * as Mtls from "../../runtime/auth/Mtls.js"
import type { OAuth2Options } from "../../runtime/auth/OAuth2.js"
import * as Trust from "../../runtime/permissions/Trust.js"
import * as Settings from "../Settings.js"

export const options = {
  mtlsPrincipal: Settings.withEnv(
    Options.choice("mtls-principal", Mtls.principalSources),
    Config.literal(...Mtls.principalSources)("ARCP_MTLS_PRINCIPAL")
  ).pipe(
    Options.withDefault("cn" as const),
    Options.withDescription(
      "what names an mtls session's principal: the certificate's subject CN, its first SAN, or its first SAN of a kind (san:dns, san:uri, san:email) (default cn) [ARCP_MTLS_PRINCIPAL]"
    )
  ),
  oauth2Issuer: Settings.optionalText(
    "oauth2-issuer",
    "ARCP_OAUTH2_ISSUER",
    "the iss an oauth2 access token must carry"
  ),
  oauth2JwksUrl: Settings.optionalText(
    "oauth2-jwks-url",
    "ARCP_OAUTH2_JWKS_URL",
    "the authorization server's JWKS: oauth2 access tokens that are JWTs are verified against it (keys cached, re-fetched on rotation)"
  ),
  oauth2Audience: Settings.optionalText(
    "oauth2-audience",
    "ARCP_OAUTH2_AUDIENCE",
    "the aud an oauth2 JWT must carry (default --jwt-audience)"
  ),
  oauth2IntrospectionUrl: Settings.optionalText(
    "oauth2-introspection-url",
    "ARCP_OAUTH2_INTROSPECTION_URL",
    "RFC 7662 token introspection endpoint for oauth2 tokens (with --oauth2-client-id and --oauth2-client-secret)"
  ),
  oauth2ClientId: Settings.optionalText(
    "oauth2-client-id",
    "ARCP_OAUTH2_CLIENT_ID",
    "the runtime's client id at the introspection endpoint"
  ),
  oauth2ClientSecret: Settings.optionalText(
    "oauth2-client-secret",
    "ARCP_OAUTH2_CLIENT_SECRET",
    "the runtime's client secret at the introspection endpoint (prefer the environment variable)"
  ),
  oauth2CacheSeconds: Settings.integer(
    "oauth2-cache-seconds",
    "ARCP_OAUTH2_CACHE_SECONDS",
    60,
    "longest an introspection answer is reused (never past the token's exp); a revoked token is refused within it"
  ),
  oauth2Scope: Options.text("oauth2-scope").pipe(
    Options.repeated,
    Options.withDescription("a scope every oauth2 token must hold; repeatable (default none; no env var)")
  ),
  oauth2ScopeTrust: Options.text("oauth2-scope-trust").pipe(
    Options.repeated,
    Options.withDescription(
      "SCOPE=LEVEL: a token with SCOPE gets trust LEVEL (untrusted, constrained, trusted, privileged; the highest wins); repeatable (no env var)"
    )
  ),
  oauth2ScopePermission: Options.text("oauth2-scope-permission").pipe(
    Options.repeated,
    Options.withDescription(
      "SCOPE=PERMISSION[,PERMISSION]: a token with SCOPE holds these permissions without asking (fs.read, fs.*, *); repeatable (no env var)"
    )
  )
}

export interface Flags {
  readonly mtlsPrincipal: Mtls.PrincipalSource
  readonly oauth2Issuer: Option.Option<string>
  readonly oauth2JwksUrl: Option.Option<string>
  readonly oauth2Audience: Option.Option<string>
  readonly oauth2IntrospectionUrl: Option.Option<string>
  readonly oauth2ClientId: Option.Option<string>
  readonly oauth2ClientSecret: Option.Option<string>
  readonly oauth2CacheSeconds: number
  readonly oauth2Scope: ReadonlyArray<string>
  readonly oauth2ScopeTrust: ReadonlyArray<string>
  readonly oauth2ScopePermission: ReadonlyArray<string>
  /** --tls-client-cert: mtls is accepted exactly when TLS asks for client certificates. */
  readonly tlsClientCert?: Option.Option<"require" | "request"> | undefined
}

const fail = (message: string) => Effect.fail(new Error(message))

const isHttpUrl = (value: string) => {
  try {
    const url = new URL(value)
    return url.protocol === "https:" || url.protocol === "http:"
  } catch {
    return false
  }
}

const pairs = (flag: string, entries: ReadonlyArray<string>) =>
  Effect.forEach(entries, (entry) => {
    const eq = entry.indexOf("=")
    return eq <= 0 || eq === entry.length - 1
      ? fail(`${flag} expects SCOPE=VALUE, got "${entry}"`)
      : Effect.succeed([entry.slice(0, eq), entry.slice(eq + 1)] as const)
  })

/** The mtls and oauth2 options of the flags (undefined: the scheme is off). */
export const resolve = Effect.fnUntraced(function*(flags: Flags, defaultAudience: string) {
  const mtls = Option.isSome(flags.tlsClientCert ?? Option.none())
    ? { principalFrom: flags.mtlsPrincipal }
    : undefined
  const jwksUrl = Option.getOrUndefined(flags.oauth2JwksUrl)
  const introspectionUrl = Option.getOrUndefined(flags.oauth2IntrospectionUrl)
  for (const [flag, url] of [["--oauth2-jwks-url", jwksUrl], ["--oauth2-introspection-url", introspectionUrl]]) {
    if (url !== undefined && !isHttpUrl(url)) return yield* fail(`${flag} expects an http(s) URL, got "${url}"`)
  }
  const clientId = Option.getOrUndefined(flags.oauth2ClientId)
  const clientSecret = Option.getOrUndefined(flags.oauth2ClientSecret)
  if (introspectionUrl !== undefined && (clientId === undefined || clientSecret === undefined)) {
    return yield* fail(
      "--oauth2-introspection-url needs --oauth2-client-id and --oauth2-client-secret (or ARCP_OAUTH2_CLIENT_SECRET)"
    )
  }
  if (flags.oauth2CacheSeconds < 0) return yield* fail("--oauth2-cache-seconds must be 0 or more")
  const scopeTrust = new Map<string, TrustLevel>()
  for (const [scope, level] of yield* pairs("--oauth2-scope-trust", flags.oauth2ScopeTrust)) {
    const parsed = Trust.parse(level)
    if (parsed === undefined) {
      return yield* fail(
        `--oauth2-scope-trust ${scope}=${level}: the level is one of untrusted, constrained, trusted, privileged`
      )
    }
    scopeTrust.set(scope, parsed)
  }
  const scopePermissions = new Map<string, ReadonlyArray<string>>()
  for (const [scope, list] of yield* pairs("--oauth2-scope-permission", flags.oauth2ScopePermission)) {
    scopePermissions.set(scope, [
      ...(scopePermissions.get(scope) ?? []),
      ...list.split(",").map((p) => p.trim()).filter((p) => p !== "")
    ])
  }
  const anyOAuth2 = jwksUrl !== undefined || introspectionUrl !== undefined
  if (!anyOAuth2 && (scopeTrust.size > 0 || scopePermissions.size > 0 || flags.oauth2Scope.length > 0)) {
    return yield* fail("the --oauth2-* scope flags need --oauth2-jwks-url or --oauth2-introspection-url")
  }
  const oauth2: OAuth2Options | undefined = anyOAuth2
    ? {
      issuer: Option.getOrUndefined(flags.oauth2Issuer),
      jwksUrl,
      audience: Option.getOrElse(flags.oauth2Audience, () => defaultAudience),
      requiredScopes: flags.oauth2Scope,
      scopeTrust,
      scopePermissions,
      ...(introspectionUrl !== undefined && clientId !== undefined && clientSecret !== undefined
        ? {
          introspection: {
            url: introspectionUrl,
            clientId,
            clientSecret,
            cacheSeconds: flags.oauth2CacheSeconds
          }
        }
        : {})
    }
    : undefined
  return { mtls, oauth2 }
})
