/**
 * The connection flags and the session opening shared by the commands that talk to a runtime (send, artifact,
 * tools, mcp): credentials, and the TLS files of a wss:// or https:// runtime.
 */
import { Options } from "@effect/cli"
import * as FileSystem from "@effect/platform/FileSystem"
import { Config, Console, Effect, Option } from "effect"
import { createSecureContext } from "node:tls"
import * as ArcpClient from "../client/ArcpClient.js"
import type { Credentials } from "../client/Credentials.js"
import { jwtSigner } from "../client/Credentials.js"
import type { Capabilities } from "../protocol/Capabilities.js"
import type { TransportError } from "../transport/Transport.js"
import { VERSION } from "../Version.js"
import { CliError, codeOf, ExitCode, rootMessage, usage } from "./Failure.js"
import * as Settings from "./Settings.js"

/**
 * `--url`, `--token`, `--jwt-secret` (`--subject`, `--audience`), `--anonymous` and the TLS files
 * (`--tls-ca`, `--tls-cert`, `--tls-key`); `subject` is the JWT's default subject.
 */
export const options = (subject: string) => ({
  url: Settings.withEnv(Options.text("url"), Config.string("ARCP_URL")).pipe(
    Options.withDefault("ws://127.0.0.1:7777"),
    Options.withDescription(
      "the runtime: ws:// or wss:// (WebSocket), unix:///path (Unix socket), http:// (h2c) or https:// (HTTP/2) [ARCP_URL]"
    )
  ),
  token: Settings.optionalText("token", "ARCP_TOKEN", "bearer token"),
  jwtSecret: Settings.optionalText("jwt-secret", "ARCP_JWT_SECRET", "sign a signed_jwt with this HS256 secret"),
  subject: Options.text("subject").pipe(Options.withDefault(subject), Options.withDescription("JWT subject")),
  audience: Options.text("audience").pipe(
    Options.withDefault("arcp://runtime"),
    Options.withDescription("JWT audience when signing")
  ),
  anonymous: Options.boolean("anonymous").pipe(Options.withDescription("scheme none (capabilities.anonymous)")),
  ...Settings.clientTls
})

/** The TLS flags, as `Settings.clientTls` declares them. */
export interface TlsFlags {
  readonly tlsCa: Option.Option<string>
  readonly tlsCert: Option.Option<string>
  readonly tlsKey: Option.Option<string>
}

const given = (flag: Option.Option<string>) => Option.filter(flag, (value) => value !== "")

const readPem = (fs: FileSystem.FileSystem, flag: string, file: string) =>
  fs.readFileString(file).pipe(
    Effect.mapError(() => new CliError({ message: `cannot read ${flag} ${file}: check the path and its permissions` }))
  )

// Node ignores a CA file that is not PEM: said here, rather than as an untrusted runtime later
const readCa = (fs: FileSystem.FileSystem, file: string) =>
  Effect.filterOrFail(
    readPem(fs, "--tls-ca", file),
    (pem) => pem.includes("-----BEGIN CERTIFICATE-----"),
    () => new CliError({ message: `--tls-ca ${file} holds no PEM certificate: give the CA's certificate file` })
  )

/**
 * The CA to trust and the client certificate to present, read from the files the flags name (undefined
 * when none is given); checked now, so a wrong or mismatched file is one sentence before any dialling.
 */
export const tlsOf = Effect.fnUntraced(function*(o: TlsFlags) {
  const [caFile, certFile, keyFile] = [given(o.tlsCa), given(o.tlsCert), given(o.tlsKey)]
  if (Option.isSome(certFile) !== Option.isSome(keyFile)) {
    return yield* usage("--tls-cert and --tls-key go together: the client certificate and its private key")
  }
  if (Option.isNone(caFile) && Option.isNone(certFile)) return undefined
  const fs = yield* FileSystem.FileSystem
  const ca = Option.isSome(caFile) ? yield* readCa(fs, caFile.value) : undefined
  const cert = Option.isSome(certFile) ? yield* readPem(fs, "--tls-cert", certFile.value) : undefined
  const key = Option.isSome(keyFile) ? yield* readPem(fs, "--tls-key", keyFile.value) : undefined
  // the same check Node makes when dialling, whose failure would otherwise surface as a transport error
  yield* Effect.try({
    try: () => createSecureContext({ ca, cert, key }),
    catch: (e) =>
      new CliError({
        message: `--tls-cert/--tls-key cannot be used (${
          e instanceof Error ? e.message : String(e)
        }): give a PEM certificate and the private key that belongs to it`
      })
  })
  return { ca, cert, key }
})

/**
 * Opens a session with the command's credentials (exit 2 with one sentence when there are none) over
 * the URL's transport, with the TLS files of the flags; the session lives as long as the scope.
 */
export const open = Effect.fnUntraced(function*(
  o: Parameters<typeof credentialsOf>[0] & TlsFlags & { readonly url: string },
  client: {
    readonly kind: string
    readonly capabilities?: Capabilities
    /** Refuse a runtime whose fingerprint differs (`--pin`). */
    readonly pinFingerprint?: string | undefined
    /** Do not take the session back when the connection drops (`--no-reconnect`). */
    readonly reconnect?: false | undefined
  }
) {
  const tls = yield* tlsOf(o)
  const credentials = credentialsOf(o)
  if (credentials === undefined) {
    return yield* Console.error(
      "arcp: no credentials: pass --token or set ARCP_TOKEN (or --jwt-secret to sign a JWT, --tls-cert with --tls-key for mtls, or --anonymous where the runtime allows it)"
    ).pipe(Effect.zipRight(new ExitCode({ code: 2 })))
  }
  // every scheme the client dials; for mtls, client.fingerprint is filled in from the certificate
  return yield* ArcpClient.connect(o.url, {
    credentials,
    capabilities: { ...client.capabilities, ...(o.anonymous ? { anonymous: true } : {}) },
    pinFingerprint: client.pinFingerprint,
    client: { kind: client.kind, version: VERSION },
    tls,
    ...(client.reconnect === false ? { reconnect: false as const } : {})
  })
})

/** A failed command's answer: one line on stderr, then exit 1. */
export const failWith = (line: string) =>
  Console.error(line).pipe(Effect.zipRight(Effect.fail(new ExitCode({ code: 1 }))))

/**
 * The credentials the connection flags name: a bearer token, a JWT signed with a secret, none, or else
 * the client certificate (`--tls-cert`, scheme mtls).
 */
export const credentialsOf = (o: {
  readonly token: Option.Option<string>
  readonly jwtSecret: Option.Option<string>
  readonly subject: string
  readonly audience: string
  readonly anonymous: boolean
  readonly tlsCert?: Option.Option<string> | undefined
}): Credentials | undefined => {
  // an empty variable (ARCP_TOKEN=) counts as unset
  if (Option.isSome(o.token) && o.token.value !== "") return { scheme: "bearer", token: o.token.value }
  if (Option.isSome(o.jwtSecret) && o.jwtSecret.value !== "") {
    return {
      scheme: "signed_jwt",
      audience: o.audience,
      signer: jwtSigner({ subject: o.subject, secret: o.jwtSecret.value })
    }
  }
  if (o.anonymous) return { scheme: "none" }
  if (o.tlsCert !== undefined && Option.isSome(o.tlsCert) && o.tlsCert.value !== "") return { scheme: "mtls" }
  return undefined
}

/** Node's codes for a server certificate it cannot verify (unknown CA, self-signed, expired, wrong host). */
const untrustedCertificate =
  /^(SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|UNABLE_TO_\w+|CERT_\w+|ERR_TLS_CERT_ALTNAME_INVALID)$/

/** Why a connection could not be made, for a person: the usual causes named, with what to check. */
export const cannotConnect = (url: string, e: TransportError) => {
  if (codeOf(e, untrustedCertificate) !== undefined) {
    return `the certificate of ${url} is not trusted (${
      rootMessage(e)
    }): pass its CA with --tls-ca FILE (or NODE_EXTRA_CA_CERTS), or check --url`
  }
  switch (codeOf(e)) {
    case "ECONNREFUSED":
      return `connection refused at ${url}: is \`arcp serve\` running there? (set the address with --url or ARCP_URL)`
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return `cannot find the host of ${url}: check --url (or ARCP_URL)`
    case "ETIMEDOUT":
      return `no answer from ${url}: check --url (or ARCP_URL) and the network`
    default:
      return `cannot connect to ${url}: ${rootMessage(e)}`
  }
}
