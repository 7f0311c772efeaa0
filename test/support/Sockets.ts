/** Throwaway socket paths and TLS material for transport tests. */
import { execFileSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { makeTempDir } from "./TempDir.js"

let next = 0
const { dir, remove } = makeTempDir("arcp-sock-")
process.once("exit", remove)

/** A fresh socket path in a private temp directory (short: socket paths are limited to ~100 bytes). */
export const socketPath = (): string => join(dir, `s${process.pid}-${++next}.sock`)

/** The private temp directory socket paths live in, for other throwaway files. */
export const scratchDir = dir

/** Whether an `openssl` binary is on the PATH (the TLS tests need it to mint a certificate). */
export const hasOpenssl = (() => {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
})()

/** A throwaway self-signed certificate for 127.0.0.1/localhost, minted with the openssl binary. */
export const selfSigned = (): {
  readonly cert: string
  readonly key: string
  readonly certFile: string
  readonly keyFile: string
} => {
  const certFile = join(dir, `cert-${++next}.pem`)
  const keyFile = join(dir, `key-${next}.pem`)
  execFileSync("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-days",
    "1",
    "-subj",
    "/CN=localhost",
    "-addext",
    "subjectAltName=IP:127.0.0.1,DNS:localhost",
    "-keyout",
    keyFile,
    "-out",
    certFile
  ], { stdio: "ignore" })
  return { cert: readFileSync(certFile, "utf8"), key: readFileSync(keyFile, "utf8"), certFile, keyFile }
}
