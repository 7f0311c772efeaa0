/**
 * Authenticators (RFC §4.6, §8.2): `bearer` (token table, constant-time),
 * `signed_jwt` (jose; HS secret, public key or JWKS; optional nonce challenge),
 * `none` (only when allowed AND negotiated), `mtls` (the verified client certificate
 * of the connection, `auth/Mtls`) and `oauth2` (JWKS or introspection, `auth/OAuth2`).
 */
import { Clock, Context, Effect, Either, Layer, Option } from "effect"
import * as jose from "jose"
import { createHash, createPublicKey, randomBytes, timingSafeEqual } from "node:crypto"
import { ArcpError } from "../../protocol/Errors.js"
import type { TrustLevel } from "../../protocol/messages/Common.js"
import type { AuthScheme } from "../../protocol/messages/Session.js"
import type { Peer } from "../../transport/Tls.js"
import { OBSERVE_CLAIM, type ObserveGrant, parseClaim as parseObserve } from "../events/Observation.js"
import { parse as parseTrust } from "../permissions/Trust.js"
import * as Mtls from "./Mtls.js"
import * as OAuth2 from "./OAuth2.js"

/** An authenticated party. `expiresAt` (epoch ms) bounds the session lease when the credential expires. */
export interface Principal {
  readonly id: string
  readonly scheme: AuthScheme
  readonly expiresAt?: number | undefined
  /** The trust level the credentials carry (§15.3): a configured level of the principal, or a JWT's `trust_level` claim. */
  readonly trustLevel?: TrustLevel | undefined
  /** Whose sessions it may observe besides its own (§13): an operator's `--observer` grant or a JWT's `arcp_observe`. */
  readonly observes?: ObserveGrant | undefined
  /** Permissions the credentials hold without asking (§15.4), e.g. from an OAuth 2.0 token's scopes. */
  readonly permissions?: ReadonlyArray<string> | undefined
}

/** A challenge to send, and how to check its answer (§8.1 steps 2–4). */
export interface Challenge {
  readonly type: string
  readonly params: { readonly [key: string]: unknown }
  readonly verify: (response: unknown) => Effect.Effect<Principal, ArcpError>
}

export type AuthStep =
  | { readonly _tag: "Accept"; readonly principal: Principal }
  | { readonly _tag: "Challenge"; readonly challenge: Challenge }

/** What `session.open` offers: the credential block, and whether anonymity was negotiated. */
export interface Offer {
  readonly scheme: AuthScheme
  readonly token?: string | undefined
  readonly anonymousNegotiated: boolean
  /** `client.fingerprint` of session.open (mtls: it must name the connection's certificate). */
  readonly fingerprint?: string | undefined
  /** What the transport proved about the peer (its verified TLS client certificate). */
  readonly peer?: Peer | undefined
}

/** Decides who a peer is. Fails with UNAUTHENTICATED (bad credentials) or UNIMPLEMENTED (scheme not built). */
export class Authenticator extends Context.Tag("arcp/Authenticator")<Authenticator, {
  /** Accepts the offer outright or answers with a challenge. */
  readonly begin: (offer: Offer) => Effect.Effect<AuthStep, ArcpError>
  /** A re-authentication challenge for a live session (§8.4); none when the scheme needs none. */
  readonly refresh: (principal: Principal) => Effect.Effect<Option.Option<Challenge>, ArcpError>
  /** Whether the runtime allows anonymous sessions at all (advertised as `capabilities.anonymous`). */
  readonly allowsAnonymous: boolean
  /** The schemes this runtime accepts (named in the rejection of any other). */
  readonly schemes?: ReadonlyArray<AuthScheme> | undefined
}>() {}

export interface JwtOptions {
  /** HMAC secret (HS256/384/512). */
  readonly secret?: string | undefined
  /** A PEM public key (RS*, PS*, ES*, EdDSA). */
  readonly publicKey?: string | undefined
  /** A JWKS document (`{ keys: [...] }`). */
  readonly jwks?: jose.JSONWebKeySet | undefined
  /** When true, every signed_jwt session proves key possession by signing a fresh nonce. */
  readonly requireNonce?: boolean | undefined
  readonly issuer?: string | undefined
  /** Clock skew allowed on exp/nbf, in seconds (default 5). */
  readonly clockToleranceSeconds?: number | undefined
}

export interface Options {
  /** Bearer tokens and the principal each one stands for. */
  readonly bearer?: ReadonlyMap<string, string> | undefined
  /** Trust levels of principals (§15.3), e.g. from `--bearer TOKEN=PRINCIPAL:privileged`; a JWT's claim wins. */
  readonly trustLevels?: ReadonlyMap<string, TrustLevel> | undefined
  /** Observe grants of principals (§13), e.g. from `--observer auditor`; a JWT's `arcp_observe` claim wins. */
  readonly observers?: ReadonlyMap<string, ObserveGrant> | undefined
  readonly jwt?: JwtOptions | undefined
  readonly allowAnonymous?: boolean | undefined
  /** Accept `mtls` sessions: the principal from the connection's verified client certificate. */
  readonly mtls?: Mtls.MtlsOptions | undefined
  /** Accept `oauth2` access tokens (JWKS and/or introspection). */
  readonly oauth2?: OAuth2.OAuth2Options | undefined
  /** The JWT audience: the runtime identity (§8.2). */
  readonly audience: string
}

const unauthenticated = (message: string) => ArcpError.of("UNAUTHENTICATED", message)

const digest = (s: string): Buffer => createHash("sha256").update(s).digest()

/** Looks a token up comparing against every entry in constant time (no early exit, equal-length digests). */
const makeBearer = (
  tokens: ReadonlyMap<string, string>,
  trust: ReadonlyMap<string, TrustLevel>,
  observers: ReadonlyMap<string, ObserveGrant>
) => {
  const table = [...tokens].map(([token, principal]) => ({ hash: digest(token), principal }))
  return (token: string | undefined): Effect.Effect<Principal, ArcpError> =>
    Effect.suspend(() => {
      const hash = digest(token ?? "")
      let found: string | undefined
      for (const entry of table) if (timingSafeEqual(entry.hash, hash) && token !== undefined) found = entry.principal
      return found === undefined
        ? Effect.fail(unauthenticated("bearer token not recognised"))
        : Effect.succeed({
          id: found,
          scheme: "bearer" as const,
          trustLevel: trust.get(found),
          observes: observers.get(found)
        })
    })
}

const HMAC_ALGS = ["HS256", "HS384", "HS512"]
const ASYMMETRIC_ALGS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]

type VerifyKey = Parameters<typeof jose.jwtVerify>[1]

/** A failed verification, ranked by how much it says about the token (a claim failure beats a wrong key). */
interface JwtFailure {
  readonly rank: number
  readonly error: ArcpError
}

/** Maps a jose failure at the edge: its stable code, plus the claim and reason when a claim failed. */
const jwtFailure = (e: unknown): JwtFailure => {
  if (!(e instanceof jose.errors.JOSEError)) {
    return { rank: 0, error: unauthenticated("signed_jwt rejected: invalid token") }
  }
  const claim = "claim" in e && typeof e.claim === "string"
    ? ` ("${e.claim}" ${"reason" in e ? String(e.reason) : "invalid"})`
    : ""
  const rank = e.code === "ERR_JWT_EXPIRED" || e.code === "ERR_JWT_CLAIM_VALIDATION_FAILED" ?
    3
    : e.code === "ERR_JWS_SIGNATURE_VERIFICATION_FAILED" || e.code === "ERR_JWKS_NO_MATCHING_KEY" ?
    1
    : 2
  return { rank, error: unauthenticated(`signed_jwt rejected: ${e.code}${claim}`) }
}

/** The `alg` of a compact JWS header, or undefined when the token is not one. */
const algorithmOf = (token: string): string | undefined =>
  Either.getOrUndefined(Either.try(() => jose.decodeProtectedHeader(token).alg))

/**
 * Verifies a JWT: only keys whose pinned algorithms include the header's `alg`
 * are tried (no `none`, no HS/RS confusion); `aud`; exp/nbf on the Effect clock.
 * When several keys are tried, the most telling failure is reported.
 */
const makeJwtVerifier = (
  options: JwtOptions,
  audience: string,
  trust: ReadonlyMap<string, TrustLevel>,
  observers: ReadonlyMap<string, ObserveGrant>
) => {
  const keys: Array<{ readonly key: VerifyKey; readonly algorithms: ReadonlyArray<string> }> = []
  if (options.secret !== undefined) keys.push({ key: new TextEncoder().encode(options.secret), algorithms: HMAC_ALGS })
  if (options.publicKey !== undefined) {
    keys.push({ key: createPublicKey(options.publicKey), algorithms: ASYMMETRIC_ALGS })
  }
  if (options.jwks !== undefined) keys.push({ key: jose.createLocalJWKSet(options.jwks), algorithms: ASYMMETRIC_ALGS })
  const tolerance = options.clockToleranceSeconds ?? 5

  const verifyWith = (token: string, entry: (typeof keys)[number], now: number) => {
    const verifyOptions: jose.JWTVerifyOptions = {
      algorithms: [...entry.algorithms],
      audience,
      currentDate: new Date(now),
      clockTolerance: tolerance,
      ...(options.issuer !== undefined ? { issuer: options.issuer } : {})
    }
    const { key } = entry
    return Effect.tryPromise({
      // jose's overloads split on the key kind (a key, or a JWKS lookup function)
      try: () => (typeof key === "function"
        ? jose.jwtVerify(token, key, verifyOptions)
        : jose.jwtVerify(token, key, verifyOptions)),
      catch: jwtFailure
    })
  }

  return (token: string | undefined) =>
    Effect.gen(function*() {
      if (token === undefined || token === "") return yield* unauthenticated("signed_jwt requires a token")
      if (keys.length === 0) return yield* unauthenticated("signed_jwt is not enabled on this runtime")
      const alg = algorithmOf(token)
      if (alg === undefined) return yield* unauthenticated("signed_jwt rejected: not a signed JWT")
      const candidates = keys.filter((entry) => entry.algorithms.includes(alg))
      if (candidates.length === 0) {
        return yield* unauthenticated(`signed_jwt rejected: algorithm ${alg} is not accepted by this runtime`)
      }
      const now = yield* Clock.currentTimeMillis
      let best: JwtFailure | undefined
      for (const entry of candidates) {
        const result = yield* Effect.either(verifyWith(token, entry, now))
        if (result._tag === "Left") {
          if (best === undefined || result.left.rank > best.rank) best = result.left
          continue
        }
        const { payload } = result.right
        if (typeof payload.sub !== "string" || payload.sub === "") {
          return yield* unauthenticated("signed_jwt has no sub claim")
        }
        return {
          payload,
          principal: {
            id: payload.sub,
            scheme: "signed_jwt" as const,
            expiresAt: payload.exp !== undefined ? payload.exp * 1000 : undefined,
            trustLevel: parseTrust(payload["trust_level"]) ?? trust.get(payload.sub),
            observes: parseObserve(payload[OBSERVE_CLAIM]) ?? observers.get(payload.sub)
          }
        }
      }
      return yield* (best?.error ?? unauthenticated("signed_jwt rejected"))
    })
}

/** The token inside a challenge answer: `{ token: "..." }`. */
const tokenOf = (response: unknown): string | undefined => {
  if (typeof response !== "object" || response === null) return undefined
  const token: unknown = Reflect.get(response, "token")
  return typeof token === "string" ? token : undefined
}

/** Builds the authenticator from its options. */
export const make = (options: Options): Context.Tag.Service<Authenticator> => {
  const trust = options.trustLevels ?? new Map<string, TrustLevel>()
  const observers = options.observers ?? new Map<string, ObserveGrant>()
  const bearer = options.bearer !== undefined && options.bearer.size > 0
    ? makeBearer(options.bearer, trust, observers)
    : undefined
  const jwt = options.jwt !== undefined ? makeJwtVerifier(options.jwt, options.audience, trust, observers) : undefined
  const allowsAnonymous = options.allowAnonymous === true
  const oauth2 = options.oauth2 !== undefined ? OAuth2.make(options.oauth2, options.audience) : undefined
  const oauth2Principal = (token: string | undefined) =>
    Effect.map(
      oauth2 === undefined ? Effect.fail(unauthenticated("oauth2 is not enabled on this runtime")) : oauth2(token),
      (info): Principal => {
        const grants = OAuth2.grantsOf(options.oauth2 ?? {}, info.scopes)
        return {
          id: info.subject,
          scheme: "oauth2",
          expiresAt: info.expiresAt,
          trustLevel: grants.trustLevel ?? trust.get(info.subject),
          permissions: grants.permissions
        }
      }
    )
  const schemes: ReadonlyArray<AuthScheme> = [
    ...(bearer !== undefined ? ["bearer" as const] : []),
    ...(jwt !== undefined ? ["signed_jwt" as const] : []),
    ...(options.mtls !== undefined ? ["mtls" as const] : []),
    ...(oauth2 !== undefined ? ["oauth2" as const] : []),
    ...(allowsAnonymous ? ["none" as const] : [])
  ]

  /** Nonce challenge (proof of key possession): sign a JWT carrying the nonce, `aud` = the runtime. */
  const nonceChallenge = (sameAs?: Principal): Challenge => {
    const nonce = randomBytes(18).toString("base64url")
    return {
      type: "jwt_nonce",
      params: { nonce, audience: options.audience },
      verify: Effect.fnUntraced(function*(response) {
        if (jwt === undefined) return yield* unauthenticated("signed_jwt is not enabled on this runtime")
        const { payload, principal } = yield* jwt(tokenOf(response))
        if (payload["nonce"] !== nonce) return yield* unauthenticated("the signed nonce does not match the challenge")
        if (sameAs !== undefined && sameAs.id !== principal.id) {
          return yield* unauthenticated("re-authenticated as a different principal")
        }
        return principal
      })
    }
  }

  const bearerChallenge = (sameAs: Principal): Challenge => ({
    type: "bearer_token",
    params: {},
    verify: Effect.fnUntraced(function*(response) {
      if (bearer === undefined) return yield* unauthenticated("bearer is not enabled on this runtime")
      const principal = yield* bearer(tokenOf(response))
      if (principal.id !== sameAs.id) return yield* unauthenticated("re-authenticated as a different principal")
      return principal
    })
  })

  /** The offer names a scheme this runtime does not take: say which it does. */
  const notEnabled = (scheme: AuthScheme) =>
    ArcpError.of(
      "UNAUTHENTICATED",
      `${scheme} is not enabled on this runtime; it accepts ${schemes.length === 0 ? "no scheme" : schemes.join(", ")}`,
      { details: { schemes } }
    )

  /** A fresh OAuth 2.0 access token, for the same principal. */
  const oauth2Challenge = (sameAs: Principal): Challenge => ({
    type: "oauth2_token",
    params: {},
    verify: Effect.fnUntraced(function*(response) {
      const principal = yield* oauth2Principal(tokenOf(response))
      if (principal.id !== sameAs.id) return yield* unauthenticated("re-authenticated as a different principal")
      return principal
    })
  })

  return Authenticator.of({
    allowsAnonymous,
    schemes,
    begin: (offer) => {
      switch (offer.scheme) {
        case "bearer":
          return bearer === undefined
            ? Effect.fail(notEnabled("bearer"))
            : Effect.map(bearer(offer.token), (principal): AuthStep => ({ _tag: "Accept", principal }))
        case "signed_jwt":
          if (jwt === undefined) return Effect.fail(notEnabled("signed_jwt"))
          return options.jwt?.requireNonce === true || offer.token === undefined
            ? Effect.succeed({ _tag: "Challenge", challenge: nonceChallenge() })
            : Effect.map(jwt(offer.token), ({ principal }): AuthStep => ({ _tag: "Accept", principal }))
        case "none":
          // §4.6 / §8.2: refused unless the runtime allows it AND the client negotiated it
          return allowsAnonymous && offer.anonymousNegotiated
            ? Effect.succeed({ _tag: "Accept", principal: { id: "anonymous", scheme: "none" } })
            : Effect.fail(unauthenticated("anonymous sessions are refused: capabilities.anonymous was not negotiated"))
        case "mtls":
          if (options.mtls === undefined) return Effect.fail(notEnabled("mtls"))
          return Effect.map(
            Mtls.verify(options.mtls, trust, offer),
            (principal): AuthStep => ({ _tag: "Accept", principal })
          )
        case "oauth2":
          if (oauth2 === undefined) return Effect.fail(notEnabled("oauth2"))
          return Effect.map(oauth2Principal(offer.token), (principal): AuthStep => ({ _tag: "Accept", principal }))
      }
    },
    refresh: (principal) => {
      switch (principal.scheme) {
        case "bearer":
          return Effect.succeed(Option.some(bearerChallenge(principal)))
        case "signed_jwt":
          return Effect.succeed(Option.some(nonceChallenge(principal)))
        case "oauth2":
          return Effect.succeed(Option.some(oauth2Challenge(principal)))
        default:
          return Effect.succeed(Option.none())
      }
    }
  })
}

/** The authenticator as a Layer. */
export const layer = (options: Options): Layer.Layer<Authenticator> => Layer.sync(Authenticator, () => make(options))
