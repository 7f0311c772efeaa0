/**
 * TLS for the listening transports (wss://, HTTP/2 over TLS) and their clients: the certificate
 * material, whether client certificates are asked for, what a peer's certificate proves (fingerprint,
 * subject, SANs, verified or not), and new material served without a restart (rotation).
 */
import { Effect, type Scope, Stream } from "effect"
import { createHash, X509Certificate } from "node:crypto"
import { TLSSocket } from "node:tls"

type Pem = string | Buffer

/** A certificate chain and its key (PEM), and the CAs client certificates are verified against. */
export interface TlsMaterial {
  readonly cert: Pem
  readonly key: Pem
  /** CAs trusted for client certificates (default: Node's bundled roots). */
  readonly ca?: Pem | undefined
}

/** `require`: no verified client certificate, no TLS handshake. `request`: asked for, the session decides (mtls). */
export type ClientCertificateMode = "require" | "request"

export interface ServerTls extends TlsMaterial {
  readonly clientCertificate?: ClientCertificateMode | undefined
  /** Material to serve from then on (`arcp serve` re-reads its files on SIGHUP); bad material is logged and skipped. */
  readonly reloads?: Stream.Stream<TlsMaterial> | undefined
}

/** What a client trusts and presents. */
export interface ClientTls {
  /** CAs trusted for the server's certificate, besides Node's bundled roots. */
  readonly ca?: Pem | undefined
  /** The client certificate (mutual TLS) and its key. */
  readonly cert?: Pem | undefined
  readonly key?: Pem | undefined
}

/** The certificate a peer presented at the transport. */
export interface PeerCertificate {
  /** `sha256:` and the lowercase hex SHA-256 of the DER certificate (the form `client.fingerprint` carries). */
  readonly fingerprint: string
  readonly subjectCommonName?: string | undefined
  /** Subject alternative names as Node prints them: `DNS:host`, `URI:spiffe://...`, `email:a@b`, `IP Address:...`. */
  readonly subjectAltNames: ReadonlyArray<string>
  /** Whether it chains to a trusted CA; when not, `verifyError` says why. */
  readonly verified: boolean
  readonly verifyError?: string | undefined
}

/** Who is at the other end, as far as the transport knows. */
export interface Peer {
  readonly certificate?: PeerCertificate | undefined
}

/** The fingerprint of a DER certificate: `sha256:<hex>`. */
export const fingerprintOf = (der: Uint8Array): string => `sha256:${createHash("sha256").update(der).digest("hex")}`

/** The fingerprint of the first certificate of a PEM chain. */
export const fingerprintOfPem = (pem: Pem): string => fingerprintOf(new X509Certificate(pem).raw)

/** A fingerprint in canonical form: lower case, colons between hex pairs removed (`sha256:AB:CD` = `sha256:abcd`). */
export const normalizeFingerprint = (fingerprint: string): string => {
  const lower = fingerprint.trim().toLowerCase()
  const colon = lower.indexOf(":")
  return colon < 0 ? lower : `${lower.slice(0, colon)}:${lower.slice(colon + 1).replaceAll(":", "")}`
}

/** The Node `tls` server options for the material and client-certificate mode. */
export const serverOptions = (tls: ServerTls) => ({
  ...secureContextOptions(tls),
  requestCert: tls.clientCertificate !== undefined,
  rejectUnauthorized: tls.clientCertificate === "require"
})

/** The options a secure context is made of (what rotation replaces). */
const secureContextOptions = (material: TlsMaterial) => ({
  cert: material.cert,
  key: material.key,
  ...(material.ca !== undefined ? { ca: material.ca } : {})
})

/** The Node `tls` client options: extra CAs, and a certificate for mutual TLS. */
export const clientOptions = (tls: ClientTls | undefined) =>
  tls === undefined ? {} : {
    ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
    ...(tls.cert !== undefined ? { cert: tls.cert } : {}),
    ...(tls.key !== undefined ? { key: tls.key } : {})
  }

const commonName = (subject: unknown): string | undefined => {
  if (typeof subject !== "object" || subject === null) return undefined
  const cn: unknown = Reflect.get(subject, "CN")
  if (typeof cn === "string") return cn
  return Array.isArray(cn) && typeof cn[0] === "string" ? cn[0] : undefined
}

/** What the certificate on a (TLS) socket proves; nothing for a cleartext socket or a peer without a certificate. */
export const peerOf = (socket: unknown): Peer => {
  if (!(socket instanceof TLSSocket)) return {}
  const cert = socket.getPeerCertificate(false)
  // no certificate: Node answers an empty object (or null once the socket is gone)
  if (cert === null || typeof cert !== "object" || !Buffer.isBuffer(cert.raw)) return {}
  const error: unknown = socket.authorizationError
  return {
    certificate: {
      fingerprint: fingerprintOf(cert.raw),
      subjectCommonName: commonName(cert.subject),
      subjectAltNames: (cert.subjectaltname ?? "").split(", ").filter((name) => name !== ""),
      verified: socket.authorized,
      verifyError: error === undefined || error === null ? undefined : String(error)
    }
  }
}

/** A server whose certificate can be replaced while it runs (`tls.Server`, `https.Server`, an HTTP/2 secure server). */
interface Rotatable {
  setSecureContext(options: ReturnType<typeof secureContextOptions>): void
}

/** Serves each new material of `tls.reloads` for the life of the scope; new connections get it, open ones keep theirs. */
export const rotate = (server: Rotatable, tls: ServerTls | undefined): Effect.Effect<void, never, Scope.Scope> =>
  tls?.reloads === undefined ?
    Effect.void :
    Stream.runForEach(
      tls.reloads,
      (material) =>
        Effect.try(() => server.setSecureContext(secureContextOptions(material))).pipe(
          Effect.zipRight(Effect.logInfo("TLS certificate reloaded")),
          Effect.catchAll((e) =>
            Effect.logWarning(`the new TLS certificate was refused, the previous one is kept: ${String(e.error)}`)
          )
        )
    ).pipe(Effect.forkScoped, Effect.asVoid)
