/**
 * A small OAuth 2.0 authorization server on loopback for the oauth2 tests: a JWKS endpoint whose
 * signing key can be rotated, JWT access tokens signed with the current key, opaque tokens, and an
 * RFC 7662 introspection endpoint (HTTP Basic client authentication) that knows about revocation
 * and counts the calls it answers.
 */
import * as jose from "jose"
import { randomBytes } from "node:crypto"
import { createServer, type IncomingMessage, type Server } from "node:http"

export const ISSUER = "https://auth.example.test"
export const CLIENT_ID = "arcp-runtime"
export const CLIENT_SECRET = "s3cret:with/odd chars"

interface Opaque {
  readonly sub: string
  readonly scope: string
  readonly exp: number
  readonly aud: string
}

export interface AuthServer {
  readonly jwksUrl: string
  readonly introspectionUrl: string
  /** A JWT access token signed with the current key. */
  readonly jwt: (claims: {
    readonly sub: string
    readonly scope?: string
    readonly aud?: string
    readonly expiresIn?: string
  }) => Promise<string>
  /** An opaque token known only to the introspection endpoint. */
  readonly opaque: (claims: { readonly sub: string; readonly scope?: string; readonly aud?: string }) => string
  readonly revoke: (token: string) => void
  /** A new signing key (new kid); the old one leaves the JWKS unless `keepOld`. */
  readonly rotate: (keepOld?: boolean) => Promise<void>
  /** Introspection requests answered so far. */
  readonly introspections: () => number
  readonly close: () => Promise<void>
}

const newKey = async () => {
  const { privateKey, publicKey } = await jose.generateKeyPair("ES256", { extractable: true })
  const kid = randomBytes(6).toString("hex")
  const jwk = { ...(await jose.exportJWK(publicKey)), kid, alg: "ES256", use: "sig" }
  return { privateKey, kid, jwk }
}

const bodyOf = (request: IncomingMessage) =>
  new Promise<string>((resolve) => {
    let body = ""
    request.on("data", (chunk: Buffer) => (body += chunk.toString()))
    request.on("end", () => resolve(body))
  })

/** Starts the authorization server on 127.0.0.1 (a free port); `audience` is the default `aud` of its tokens. */
export const start = async (audience: string): Promise<AuthServer> => {
  let current = await newKey()
  let published = [current.jwk]
  const opaque = new Map<string, Opaque>()
  const revoked = new Set<string>()
  let introspections = 0

  const server: Server = createServer((request, response) => {
    const json = (status: number, value: unknown) => {
      response.writeHead(status, { "content-type": "application/json" })
      response.end(JSON.stringify(value))
    }
    if (request.url === "/jwks") return json(200, { keys: published })
    if (request.url !== "/introspect" || request.method !== "POST") return json(404, {})
    void bodyOf(request).then((body) => {
      const expected = `Basic ${
        Buffer.from(`${encodeURIComponent(CLIENT_ID)}:${encodeURIComponent(CLIENT_SECRET)}`).toString("base64")
      }`
      if (request.headers.authorization !== expected) return json(401, { error: "invalid_client" })
      introspections++
      const token = new URLSearchParams(body).get("token") ?? ""
      const known = opaque.get(token)
      if (known === undefined || revoked.has(token) || known.exp * 1000 <= Date.now()) {
        return json(200, { active: false })
      }
      return json(200, { active: true, ...known, iss: ISSUER, client_id: "agent-app", token_type: "Bearer" })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const address = server.address()
  const base = `http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}`

  return {
    jwksUrl: `${base}/jwks`,
    introspectionUrl: `${base}/introspect`,
    jwt: (claims) =>
      new jose.SignJWT(claims.scope !== undefined ? { scope: claims.scope } : {})
        .setProtectedHeader({ alg: "ES256", kid: current.kid })
        .setIssuer(ISSUER)
        .setSubject(claims.sub)
        .setAudience(claims.aud ?? audience)
        .setIssuedAt()
        .setExpirationTime(claims.expiresIn ?? "5m")
        .sign(current.privateKey),
    opaque: (claims) => {
      const token = randomBytes(24).toString("base64url")
      opaque.set(token, {
        sub: claims.sub,
        scope: claims.scope ?? "",
        aud: claims.aud ?? audience,
        exp: Math.floor(Date.now() / 1000) + 3600
      })
      return token
    },
    revoke: (token) => void revoked.add(token),
    rotate: async (keepOld = false) => {
      current = await newKey()
      published = keepOld ? [...published, current.jwk] : [current.jwk]
    },
    introspections: () => introspections,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
  }
}
