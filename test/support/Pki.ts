/**
 * A throwaway PKI minted with the `openssl` binary at test time: a CA, a server certificate for
 * 127.0.0.1/localhost, client certificates signed by it (CN and SANs of the test's choosing), and
 * a client certificate from a CA nobody trusts. Files live in the private scratch directory.
 */
import { execFileSync } from "node:child_process"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { fingerprintOfPem } from "../../src/transport/Tls.js"
import { scratchDir } from "./Sockets.js"

export { hasOpenssl } from "./Sockets.js"

let next = 0

export interface Pem {
  readonly cert: string
  readonly key: string
  readonly certFile: string
  readonly keyFile: string
  /** `sha256:` of the DER certificate: what `client.fingerprint` carries for mtls. */
  readonly fingerprint: string
}

const openssl = (...args: ReadonlyArray<string>) => execFileSync("openssl", args, { stdio: "ignore" })

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

const read = (certFile: string, keyFile: string): Pem => {
  const cert = readFileSync(certFile, "utf8")
  return { cert, key: readFileSync(keyFile, "utf8"), certFile, keyFile, fingerprint: fingerprintOfPem(cert) }
}

/** A self-signed CA. */
export const makeCa = (name = "arcp test CA"): Pem => {
  const n = ++next
  const certFile = join(scratchDir, `ca-${n}.pem`)
  const keyFile = join(scratchDir, `ca-${n}.key`)
  openssl(
    "req",
    "-x509",
    ...EC,
    "-days",
    "2",
    "-subj",
    `/CN=${name}`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
    "-keyout",
    keyFile,
    "-out",
    certFile
  )
  return read(certFile, keyFile)
}

/** A certificate signed by `ca` for `commonName`, with `sans` (e.g. `DNS:localhost`, `URI:spiffe://x`), for server or client use. */
export const issue = (
  ca: Pem,
  commonName: string,
  sans: ReadonlyArray<string>,
  usage: "serverAuth" | "clientAuth"
): Pem => {
  const n = ++next
  const certFile = join(scratchDir, `leaf-${n}.pem`)
  const keyFile = join(scratchDir, `leaf-${n}.key`)
  const csrFile = join(scratchDir, `leaf-${n}.csr`)
  const extFile = join(scratchDir, `leaf-${n}.ext`)
  writeFileSync(
    extFile,
    [
      "basicConstraints=CA:FALSE",
      `extendedKeyUsage=${usage}`,
      ...(sans.length > 0 ? [`subjectAltName=${sans.join(",")}`] : [])
    ].join("\n")
  )
  openssl("req", "-new", ...EC, "-subj", `/CN=${commonName}`, "-keyout", keyFile, "-out", csrFile)
  openssl(
    "x509",
    "-req",
    "-in",
    csrFile,
    "-CA",
    ca.certFile,
    "-CAkey",
    ca.keyFile,
    "-CAcreateserial",
    "-days",
    "1",
    "-extfile",
    extFile,
    "-out",
    certFile
  )
  return read(certFile, keyFile)
}

/** A CA, its server certificate for 127.0.0.1/localhost, a client `alice` (with SANs), and an untrusted client. */
export const makePki = () => {
  const ca = makeCa()
  const server = issue(ca, "localhost", ["DNS:localhost", "IP:127.0.0.1"], "serverAuth")
  const alice = issue(ca, "alice", ["URI:spiffe://example.test/agent/alice", "email:alice@example.test"], "clientAuth")
  const stranger = issue(makeCa("someone else's CA"), "mallory", [], "clientAuth")
  return { ca, server, alice, stranger }
}
