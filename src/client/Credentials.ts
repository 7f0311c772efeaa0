/** Client credentials (RFC §8.2) and how to answer the runtime's challenges. */
import { Effect } from "effect"
import * as jose from "jose"
import { createPrivateKey } from "node:crypto"
import { ArcpError } from "../protocol/Errors.js"

/** Signs a JWT proving key possession for a `jwt_nonce` challenge (and for `signed_jwt` opens). */
export type JwtSigner = (
  claims: { readonly audience: string; readonly nonce?: string | undefined }
) => Effect.Effect<string, ArcpError>

export type Credentials =
  | { readonly scheme: "bearer"; readonly token: string }
  | {
    readonly scheme: "signed_jwt"
    readonly token?: string | undefined
    readonly signer?: JwtSigner | undefined
    readonly audience?: string | undefined
  }
  | { readonly scheme: "none" }
  /** The client certificate of the connection (`tls.cert` of the connect options) is the credential (§8.2). */
  | { readonly scheme: "mtls" }
  /** An OAuth 2.0 access token; `refresh` gives a fresh one when the runtime asks to re-authenticate (§8.4). */
  | {
    readonly scheme: "oauth2"
    readonly token: string
    readonly refresh?: (() => Effect.Effect<string, ArcpError>) | undefined
  }

/**
 * A signer from a key: an HMAC secret (HS256) or a PEM private key (with its
 * algorithm, e.g. RS256 or ES256). Tokens last `ttlSeconds` (default 300).
 */
export const jwtSigner = (options: {
  readonly subject: string
  readonly secret?: string | undefined
  readonly privateKey?: string | undefined
  readonly algorithm?: string | undefined
  readonly ttlSeconds?: number | undefined
  readonly issuer?: string | undefined
}): JwtSigner => {
  const algorithm = options.algorithm ?? (options.secret !== undefined ? "HS256" : "RS256")
  const key = options.secret !== undefined
    ? new TextEncoder().encode(options.secret)
    : options.privateKey !== undefined
    ? createPrivateKey(options.privateKey)
    : undefined
  return ({ audience, nonce }) =>
    Effect.tryPromise({
      try: () => {
        if (key === undefined) throw new Error("jwtSigner needs a secret or a private key")
        let jwt = new jose.SignJWT(nonce !== undefined ? { nonce } : {})
          .setProtectedHeader({ alg: algorithm })
          .setSubject(options.subject)
          .setAudience(audience)
          .setIssuedAt()
          .setExpirationTime(`${options.ttlSeconds ?? 300}s`)
        if (options.issuer !== undefined) jwt = jwt.setIssuer(options.issuer)
        return jwt.sign(key)
      },
      catch: (e) => ArcpError.of("INTERNAL", `cannot sign a JWT: ${e instanceof Error ? e.message : String(e)}`)
    })
}

const param = (params: { readonly [k: string]: unknown } | undefined, key: string): string | undefined => {
  const v = params?.[key]
  return typeof v === "string" ? v : undefined
}

/** The `response` of `session.authenticate` for a challenge of `type` with `params`. */
export const answerChallenge = (
  credentials: Credentials,
  type: string,
  params: { readonly [k: string]: unknown } | undefined
): Effect.Effect<unknown, ArcpError> => {
  switch (type) {
    case "bearer_token":
      return credentials.scheme === "bearer"
        ? Effect.succeed({ token: credentials.token })
        : Effect.fail(ArcpError.of("UNAUTHENTICATED", "the runtime asked for a bearer token this client does not hold"))
    case "oauth2_token":
      return credentials.scheme === "oauth2"
        ? Effect.map(credentials.refresh?.() ?? Effect.succeed(credentials.token), (token) => ({ token }))
        : Effect.fail(
          ArcpError.of("UNAUTHENTICATED", "the runtime asked for an OAuth 2.0 token this client does not hold")
        )
    case "jwt_nonce": {
      const nonce = param(params, "nonce")
      const audience = param(params, "audience")
      if (credentials.scheme !== "signed_jwt" || credentials.signer === undefined) {
        return Effect.fail(
          ArcpError.of("UNAUTHENTICATED", "the runtime asked for a signed nonce; this client has no JWT signer")
        )
      }
      if (nonce === undefined || audience === undefined) {
        return Effect.fail(ArcpError.of("INVALID_ARGUMENT", "jwt_nonce challenge without nonce or audience"))
      }
      return Effect.map(credentials.signer({ audience, nonce }), (token) => ({ token }))
    }
    default:
      return Effect.fail(ArcpError.of("UNIMPLEMENTED", `unknown challenge type "${type}"`))
  }
}

/** The token to put in `session.open`: given, or signed fresh for the audience. */
export const openToken = (credentials: Credentials): Effect.Effect<string | undefined, ArcpError> => {
  if (credentials.scheme === "bearer" || credentials.scheme === "oauth2") return Effect.succeed(credentials.token)
  if (credentials.scheme === "none" || credentials.scheme === "mtls") return Effect.succeed(undefined)
  if (credentials.token !== undefined) return Effect.succeed(credentials.token)
  if (credentials.signer !== undefined && credentials.audience !== undefined) {
    return credentials.signer({ audience: credentials.audience })
  }
  return Effect.succeed(undefined) // the runtime will challenge
}
