/**
 * The `oauth2` scheme (RFC §8.2): an OAuth 2.0 access token, checked either as a JWT against the
 * authorization server's JWKS (jose's remote key set: cached, re-fetched when a new key id shows
 * up) or by token introspection (RFC 7662, results cached until the token's `exp`, capped). The
 * token's scopes give the session its trust level and the permissions it holds without asking (§15).
 */
import { Clock, Effect, Either } from "effect"
import * as jose from "jose"
import { createHash } from "node:crypto"
import { ArcpError } from "../../protocol/Errors.js"
import type { TrustLevel } from "../../protocol/messages/Common.js"
import { levels } from "../permissions/Trust.js"

export interface IntrospectionOptions {
  readonly url: string
  /** The runtime's client credentials at the authorization server (HTTP Basic, RFC 7662 §2.1). */
  readonly clientId: string
  readonly clientSecret: string
  /** Longest an introspection answer is reused, in seconds, even when the token lives longer (default 60). */
  readonly cacheSeconds?: number | undefined
}

export interface OAuth2Options {
  /** The `iss` a JWT access token must carry. */
  readonly issuer?: string | undefined
  /** The authorization server's JWKS: access tokens that are JWTs are verified against it. */
  readonly jwksUrl?: string | undefined
  /** The `aud` a JWT access token must carry (default: the runtime identity). */
  readonly audience?: string | undefined
  /** Scopes every token must hold. */
  readonly requiredScopes?: ReadonlyArray<string> | undefined
  readonly introspection?: IntrospectionOptions | undefined
  /** scope → trust level; a token gets the highest level its scopes map to. */
  readonly scopeTrust?: ReadonlyMap<string, TrustLevel> | undefined
  /** scope → permissions held without asking (`fs.read`, `fs.*`, `*`). */
  readonly scopePermissions?: ReadonlyMap<string, ReadonlyArray<string>> | undefined
  /** Shortest wait, in seconds, between two JWKS fetches caused by unknown key ids (default 30). */
  readonly jwksCooldownSeconds?: number | undefined
  readonly clockToleranceSeconds?: number | undefined
}

/** What an accepted token says. */
export interface TokenInfo {
  readonly subject: string
  readonly scopes: ReadonlyArray<string>
  /** Epoch ms. */
  readonly expiresAt?: number | undefined
}

/** Introspection answers kept at most. */
const CACHE_ENTRIES = 10_000
const HTTP_TIMEOUT = "10 seconds"
const ASYMMETRIC_ALGS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]

const unauthenticated = (message: string) => ArcpError.of("UNAUTHENTICATED", `oauth2: ${message}`)

const scopesOf = (claims: { readonly [key: string]: unknown }): ReadonlyArray<string> => {
  const scope = claims["scope"] ?? claims["scp"]
  if (typeof scope === "string") return scope.split(" ").filter((s) => s !== "")
  return Array.isArray(scope) ? scope.filter((s): s is string => typeof s === "string") : []
}

const subjectOf = (claims: { readonly [key: string]: unknown }): string | undefined => {
  for (const key of ["sub", "username", "client_id"]) {
    const value = claims[key]
    if (typeof value === "string" && value !== "") return value
  }
  return undefined
}

const isJwt = (token: string): boolean =>
  Either.isRight(Either.try(() => jose.decodeProtectedHeader(token))) && token.split(".").length === 3

/** The trust level and held permissions a token's scopes give. */
export const grantsOf = (options: OAuth2Options, scopes: ReadonlyArray<string>) => {
  let trust: TrustLevel | undefined
  const permissions = new Set<string>()
  for (const scope of scopes) {
    const level = options.scopeTrust?.get(scope)
    if (level !== undefined && (trust === undefined || levels.indexOf(level) > levels.indexOf(trust))) trust = level
    for (const permission of options.scopePermissions?.get(scope) ?? []) permissions.add(permission)
  }
  return { trustLevel: trust, permissions: [...permissions] }
}

/** A token validator for the options (audience defaults to the runtime identity). */
export const make = (options: OAuth2Options, runtimeAudience: string) => {
  const jwks = options.jwksUrl === undefined ? undefined : jose.createRemoteJWKSet(new URL(options.jwksUrl), {
    cooldownDuration: (options.jwksCooldownSeconds ?? 30) * 1000,
    timeoutDuration: 10_000
  })
  const cache = new Map<string, { readonly info: TokenInfo; readonly until: number }>()
  const tolerance = options.clockToleranceSeconds ?? 5

  const viaJwks = (token: string, keys: NonNullable<typeof jwks>) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const { payload } = yield* Effect.tryPromise({
        try: () =>
          jose.jwtVerify(token, keys, {
            algorithms: ASYMMETRIC_ALGS,
            audience: options.audience ?? runtimeAudience,
            currentDate: new Date(now),
            clockTolerance: tolerance,
            ...(options.issuer !== undefined ? { issuer: options.issuer } : {})
          }),
        catch: (e) => {
          if (e instanceof jose.errors.JWKSTimeout || e instanceof jose.errors.JWKSInvalid) {
            return ArcpError.of("UNAVAILABLE", `oauth2: the authorization server's JWKS cannot be read: ${e.code}`)
          }
          if (!(e instanceof jose.errors.JOSEError)) {
            return ArcpError.of("UNAVAILABLE", `oauth2: the authorization server's JWKS cannot be read: ${String(e)}`)
          }
          const claim = "claim" in e && typeof e.claim === "string" ? ` ("${e.claim}")` : ""
          return unauthenticated(`access token rejected: ${e.code}${claim}`)
        }
      })
      const subject = subjectOf(payload)
      if (subject === undefined) return yield* unauthenticated("the access token names no subject")
      return {
        subject,
        scopes: scopesOf(payload),
        expiresAt: payload.exp !== undefined ? payload.exp * 1000 : undefined
      } satisfies TokenInfo
    })

  const introspect = (token: string, endpoint: IntrospectionOptions) =>
    Effect.gen(function*() {
      const key = createHash("sha256").update(token).digest("hex")
      const now = yield* Clock.currentTimeMillis
      const cached = cache.get(key)
      if (cached !== undefined && cached.until > now) return cached.info
      cache.delete(key)
      const basic = Buffer.from(`${encodeURIComponent(endpoint.clientId)}:${encodeURIComponent(endpoint.clientSecret)}`)
        .toString("base64")
      const answer = yield* Effect.tryPromise({
        try: async (signal) => {
          const response = await fetch(endpoint.url, {
            method: "POST",
            headers: {
              authorization: `Basic ${basic}`,
              "content-type": "application/x-www-form-urlencoded",
              accept: "application/json"
            },
            body: new URLSearchParams({ token, token_type_hint: "access_token" }),
            signal
          })
          if (!response.ok) throw new Error(`HTTP ${response.status}`)
          const body: unknown = await response.json()
          return body
        },
        catch: (e) =>
          ArcpError.of(
            "UNAVAILABLE",
            `oauth2: the introspection endpoint did not answer: ${e instanceof Error ? e.message : String(e)}`
          )
      }).pipe(
        Effect.timeoutFail({
          duration: HTTP_TIMEOUT,
          onTimeout: () => ArcpError.of("UNAVAILABLE", "oauth2: the introspection endpoint did not answer in time")
        })
      )
      if (typeof answer !== "object" || answer === null || Array.isArray(answer)) {
        return yield* ArcpError.of(
          "UNAVAILABLE",
          "oauth2: the introspection endpoint answered something else than JSON"
        )
      }
      const claims: { readonly [key: string]: unknown } = Object.fromEntries(Object.entries(answer))
      if (claims["active"] !== true) {
        return yield* unauthenticated("the access token is not active (revoked or expired)")
      }
      const exp = typeof claims["exp"] === "number" ? claims["exp"] * 1000 : undefined
      if (exp !== undefined && exp <= now) return yield* unauthenticated("the access token has expired")
      if (options.issuer !== undefined && claims["iss"] !== undefined && claims["iss"] !== options.issuer) {
        return yield* unauthenticated("the access token was issued by another issuer")
      }
      const audience = options.audience ?? runtimeAudience
      const aud = claims["aud"]
      if (aud !== undefined && aud !== audience && !(Array.isArray(aud) && aud.includes(audience))) {
        return yield* unauthenticated(`the access token is not meant for ${audience}`)
      }
      const subject = subjectOf(claims)
      if (subject === undefined) return yield* unauthenticated("the introspected token names no subject")
      const info: TokenInfo = { subject, scopes: scopesOf(claims), expiresAt: exp }
      const until = Math.min(exp ?? Number.POSITIVE_INFINITY, now + (endpoint.cacheSeconds ?? 60) * 1000)
      if (cache.size >= CACHE_ENTRIES) {
        const oldest = cache.keys().next()
        if (oldest.done !== true) cache.delete(oldest.value)
      }
      cache.set(key, { info, until })
      return info
    })

  /** Validates a token: its subject, scopes and expiry; UNAUTHENTICATED when refused, UNAVAILABLE when the server is. */
  return (token: string | undefined): Effect.Effect<TokenInfo, ArcpError> =>
    Effect.gen(function*() {
      if (token === undefined || token === "") return yield* unauthenticated("the scheme requires a token")
      const info = jwks !== undefined && isJwt(token)
        ? yield* viaJwks(token, jwks)
        : options.introspection !== undefined
        ? yield* introspect(token, options.introspection)
        : yield* unauthenticated("the access token is not a JWT and this runtime has no introspection endpoint")
      const missing = (options.requiredScopes ?? []).filter((scope) => !info.scopes.includes(scope))
      if (missing.length > 0) return yield* unauthenticated(`the access token lacks the scope ${missing.join(", ")}`)
      return info
    })
}
