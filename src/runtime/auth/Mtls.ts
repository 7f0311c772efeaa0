/**
 * The `mtls` scheme (RFC §8.2): the identity is the client certificate the transport verified;
 * `session.open` carries no token, and `client.fingerprint` must name that very certificate.
 * The principal is read from the certificate: its subject CN, or a subject alternative name.
 */
import { Effect } from "effect"
import { ArcpError } from "../../protocol/Errors.js"
import type { TrustLevel } from "../../protocol/messages/Common.js"
import { normalizeFingerprint, type Peer, type PeerCertificate } from "../../transport/Tls.js"

/** Where the principal comes from: the subject CN, the first SAN, or the first SAN of a kind (`DNS`, `URI`, `email`). */
export type PrincipalSource = "cn" | "san" | "san:dns" | "san:uri" | "san:email"

export const principalSources: ReadonlyArray<PrincipalSource> = ["cn", "san", "san:dns", "san:uri", "san:email"]

export interface MtlsOptions {
  /** Default `cn`. */
  readonly principalFrom?: PrincipalSource | undefined
}

const unauthenticated = (message: string) => ArcpError.of("UNAUTHENTICATED", message)

const SAN_PREFIX: Record<Exclude<PrincipalSource, "cn" | "san">, string> = {
  "san:dns": "DNS:",
  "san:uri": "URI:",
  "san:email": "email:"
}

/** The principal a certificate names under `source`, if it names one. */
export const principalOf = (certificate: PeerCertificate, source: PrincipalSource): string | undefined => {
  if (source === "cn") return certificate.subjectCommonName
  const sans = certificate.subjectAltNames
  const found = source === "san"
    ? sans[0]
    : sans.find((name) => name.startsWith(SAN_PREFIX[source]))
  if (found === undefined) return undefined
  const colon = found.indexOf(":")
  return colon < 0 ? found : found.slice(colon + 1)
}

/** Checks an mtls offer against the connection's certificate; the principal on success. */
export const verify = Effect.fnUntraced(function*(
  options: MtlsOptions,
  trust: ReadonlyMap<string, TrustLevel>,
  offer: { readonly fingerprint?: string | undefined; readonly peer?: Peer | undefined }
) {
  const certificate = offer.peer?.certificate
  if (certificate === undefined) {
    return yield* unauthenticated(
      "mtls needs a client certificate verified by TLS, and this connection presented none (connect over wss:// or https:// with a client certificate)"
    )
  }
  if (!certificate.verified) {
    return yield* unauthenticated(
      `mtls: the client certificate is not trusted by this runtime (${certificate.verifyError ?? "unverified"})`
    )
  }
  if (offer.fingerprint === undefined) return yield* unauthenticated("mtls requires client.fingerprint (§8.2)")
  if (normalizeFingerprint(offer.fingerprint) !== certificate.fingerprint) {
    return yield* unauthenticated(
      "mtls: client.fingerprint does not match the certificate presented on this connection (expected sha256: of its DER bytes)"
    )
  }
  const source = options.principalFrom ?? "cn"
  const id = principalOf(certificate, source)
  if (id === undefined || id === "") {
    return yield* unauthenticated(`mtls: the client certificate has no ${source} to name the principal`)
  }
  return { id, scheme: "mtls" as const, trustLevel: trust.get(id) }
})
