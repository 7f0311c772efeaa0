/**
 * `arcp serve`'s transport flags: `--transport` (one of ws, stdio, unix,
 * http2, or several comma-separated) and the settings of each, turned into
 * the server's transport options with one clear sentence per mistake.
 */
import { Options } from "@effect/cli"
import * as FileSystem from "@effect/platform/FileSystem"
import { Config, Effect, Option, Stream } from "effect"
import type { Readable, Writable } from "node:stream"
import { createSecureContext } from "node:tls"
import type { TransportOptions } from "../../runtime/Server.js"
import type { TlsMaterial } from "../../transport/Tls.js"
import * as Settings from "../Settings.js"

const KINDS = ["ws", "stdio", "unix", "http2"] as const
type Kind = typeof KINDS[number]
const isKind = (s: string): s is Kind => KINDS.some((k) => k === s)

export const options = {
  transport: Settings.text(
    "transport",
    "ARCP_TRANSPORT",
    "ws",
    "ws (WebSocket server), stdio (newline-delimited JSON on stdin/stdout; serves one client), unix (Unix socket or named pipe at --socket) or http2 (HTTP/2 on --http2-port); several at once comma-separated, e.g. ws,unix"
  ),
  socket: Settings.optionalText(
    "socket",
    "ARCP_SOCKET",
    "socket file for --transport unix (\\\\.\\pipe\\NAME for a Windows named pipe); a stale one is replaced, removed on shutdown"
  ),
  socketMode: Settings.text(
    "socket-mode",
    "ARCP_SOCKET_MODE",
    "600",
    "permission bits (octal) of the socket file; 600 lets only this user connect"
  ),
  http2Port: Settings.integer("http2-port", "ARCP_HTTP2_PORT", 7778, "HTTP/2 port; 0 picks a free one"),
  tlsCert: Settings.optionalText(
    "tls-cert",
    "ARCP_TLS_CERT",
    "PEM certificate file: wss:// and HTTP/2 over TLS (https://), with --tls-key; re-read on SIGHUP; without both, ws:// and cleartext h2c (loopback hosts only)"
  ),
  tlsKey: Settings.optionalText("tls-key", "ARCP_TLS_KEY", "PEM private key file of --tls-cert"),
  tlsCa: Settings.optionalText(
    "tls-ca",
    "ARCP_TLS_CA",
    "PEM file of the CAs client certificates must chain to (with --tls-client-cert)"
  ),
  tlsClientCert: Settings.withEnv(
    Options.choice("tls-client-cert", ["require", "request"]),
    Config.literal("require", "request")("ARCP_TLS_CLIENT_CERT")
  ).pipe(
    Options.optional,
    Options.withDescription(
      "ask TLS clients for a certificate (auth scheme mtls): require (no verified certificate, no connection) or request (sessions decide) (default neither) [ARCP_TLS_CLIENT_CERT]"
    )
  )
}

export interface Flags {
  readonly transport: string
  readonly host: string
  readonly port: number
  readonly socket: Option.Option<string>
  readonly socketMode: string
  readonly http2Port: number
  readonly tlsCert: Option.Option<string>
  readonly tlsKey: Option.Option<string>
  readonly tlsCa?: Option.Option<string> | undefined
  readonly tlsClientCert?: Option.Option<"require" | "request"> | undefined
}

const isLoopback = (host: string) => host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host)

const fail = (message: string) => Effect.fail(new Error(message))

const readPem = (fs: FileSystem.FileSystem, flag: string, file: string) =>
  fs.readFileString(file).pipe(Effect.mapError(() => new Error(`cannot read ${flag} ${file}: check the path`)))

/** The certificate, key and CA files, read now. */
const readMaterial = Effect.fnUntraced(
  function*(fs: FileSystem.FileSystem, cert: string, key: string, ca: Option.Option<string>) {
    const material: TlsMaterial = {
      cert: yield* readPem(fs, "--tls-cert", cert),
      key: yield* readPem(fs, "--tls-key", key),
      ...(Option.isSome(ca) ? { ca: yield* readPem(fs, "--tls-ca", ca.value) } : {})
    }
    return material
  }
)

/** Each SIGHUP: the files read again (rotation without a restart); unreadable ones are logged and skipped. */
const reloadsOnSighup = (fs: FileSystem.FileSystem, cert: string, key: string, ca: Option.Option<string>) =>
  Stream.async<void>((emit) => {
    const onHangup = () => void emit.single(undefined)
    process.on("SIGHUP", onHangup)
    return Effect.sync(() => process.off("SIGHUP", onHangup))
  }).pipe(
    Stream.mapEffect(() =>
      readMaterial(fs, cert, key, ca).pipe(
        Effect.tapError((e) => Effect.logWarning(`SIGHUP: the TLS files were not reloaded: ${e.message}`)),
        Effect.option
      )
    ),
    Stream.filterMap((material) => material)
  )

/** The server TLS settings of the flags, or undefined for cleartext; one sentence per mistake. */
const tlsOf = Effect.fnUntraced(function*(fs: FileSystem.FileSystem, flags: Flags) {
  const ca = flags.tlsCa ?? Option.none()
  const clientCert = flags.tlsClientCert ?? Option.none()
  if (Option.isNone(flags.tlsCert) || Option.isNone(flags.tlsKey)) {
    if (Option.isSome(ca) || Option.isSome(clientCert)) {
      return yield* fail(
        "--tls-ca and --tls-client-cert need --tls-cert and --tls-key (client certificates travel over TLS)"
      )
    }
    return undefined
  }
  if (Option.isSome(clientCert) && Option.isNone(ca)) {
    return yield* fail("--tls-client-cert needs --tls-ca, the CA file client certificates must chain to")
  }
  const material = yield* readMaterial(fs, flags.tlsCert.value, flags.tlsKey.value, ca)
  // checked now, so that a wrong file is one sentence rather than a failure deep in the server's start
  yield* Effect.try({
    try: () => createSecureContext(material),
    catch: (e) =>
      new Error(
        `--tls-cert/--tls-key${Option.isSome(ca) ? "/--tls-ca" : ""} cannot be used (${
          e instanceof Error ? e.message : String(e)
        }): give PEM files of a certificate, its private key${Option.isSome(ca) ? " and the CA" : ""}`
      )
  })
  return {
    ...material,
    ...(Option.isSome(clientCert) ? { clientCertificate: clientCert.value } : {}),
    reloads: reloadsOnSighup(fs, flags.tlsCert.value, flags.tlsKey.value, ca)
  }
})

/** The kinds `--transport` names, in order and without repeats; stdio only alone. */
export const kindsOf = (flag: string): Effect.Effect<ReadonlyArray<Kind>, Error> => {
  const names = [...new Set(flag.split(",").map((s) => s.trim().toLowerCase()).filter((s) => s !== ""))]
  const unknown = names.find((n) => !isKind(n))
  if (unknown !== undefined || names.length === 0) {
    return fail(`--transport: unknown "${unknown ?? flag}"; use ws, stdio, unix or http2 (several comma-separated)`)
  }
  const kinds = names.filter(isKind)
  if (kinds.includes("stdio") && kinds.length > 1) {
    return fail("--transport stdio serves one client on stdin/stdout and cannot be combined with other transports")
  }
  return Effect.succeed(kinds)
}

/** The server's transport options for the flags (stdio on this process's stdin/stdout). */
export const resolve = Effect.fnUntraced(function*(
  flags: Flags,
  stdio: { readonly input: Readable; readonly output: Writable }
) {
  const fs = yield* FileSystem.FileSystem
  const kinds = yield* kindsOf(flags.transport)
  if (Option.isSome(flags.tlsCert) !== Option.isSome(flags.tlsKey)) {
    return yield* fail("--tls-cert and --tls-key go together: give both, or neither for cleartext")
  }
  const tls = yield* tlsOf(fs, flags)
  if (tls !== undefined && !kinds.includes("http2") && !kinds.includes("ws")) {
    return yield* fail("--tls-cert/--tls-key secure --transport ws (wss://) and http2 only")
  }
  return yield* Effect.forEach(kinds, (kind): Effect.Effect<TransportOptions, Error> => {
    switch (kind) {
      case "ws":
        return Effect.succeed({ kind, host: flags.host, port: flags.port, ...(tls !== undefined ? { tls } : {}) })
      case "stdio":
        return Effect.succeed({ kind, input: stdio.input, output: stdio.output })
      case "unix": {
        if (Option.isNone(flags.socket)) {
          return fail("--transport unix needs --socket PATH, the socket file to create")
        }
        if (!/^0?[0-7]{3}$/.test(flags.socketMode)) {
          return fail(`--socket-mode expects octal permission bits such as 600 or 660, got "${flags.socketMode}"`)
        }
        return Effect.succeed({ kind, path: flags.socket.value, mode: parseInt(flags.socketMode, 8) })
      }
      case "http2":
        // cleartext h2c is for loopback (tests, a local sidecar): anything reachable from elsewhere gets TLS
        return tls === undefined && !isLoopback(flags.host)
          ? fail(
            `--transport http2 on ${flags.host} needs --tls-cert and --tls-key (cleartext h2c is served on loopback hosts only)`
          )
          : Effect.succeed({ kind, host: flags.host, port: flags.http2Port, tls })
    }
  })
})
