/**
 * `ArcpClient`, the client's entry point: `connect` reaches a runtime over a
 * URL (WebSocket, Unix socket, HTTP/2) or any `Connection` (a stdio child's pipes, a memory pair),
 * runs the handshake (§8.1–§8.3) and yields a scoped `Session`; `layer`
 * provides that session as the `ArcpSession` service.
 */
import { Effect, Layer, type Scope } from "effect"
import { ArcpError } from "../protocol/Errors.js"
import * as Http2 from "../transport/Http2.js"
import { type ClientTls, fingerprintOfPem } from "../transport/Tls.js"
import { type Connection, TransportError } from "../transport/Transport.js"
import * as UnixSocket from "../transport/UnixSocket.js"
import * as WebSocket from "../transport/WebSocket.js"
import { VERSION } from "../Version.js"
import { ArcpSession, type ClientError, connect as handshake, type ConnectOptions, type Session } from "./Client.js"

export { ArcpSession, ClientError, terminalTypes } from "./Client.js"
export type {
  ClientRetry,
  ConnectOptions,
  InvokeOptions,
  JobHandle,
  ScheduleHandle,
  ScheduleOptions,
  ScheduleWhen,
  Session
} from "./Client.js"

/**
 * Where a runtime is: a URL (`ws://` / `wss://` WebSocket, `unix:///path` Unix socket or named pipe,
 * `http://` h2c / `https://` HTTP/2), an open `Connection`, or an effect that opens one.
 */
export type Target<E = never, R = never> = string | Connection | Effect.Effect<Connection, E, R>

/** Opens the transport a URL names by its scheme (`tls` for wss:// and https://), closed with the scope. */
export const dialUrl = (
  url: string,
  options: { readonly tls?: ClientTls | undefined } = {}
): Effect.Effect<Connection, TransportError, Scope.Scope> => {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase()
  switch (scheme) {
    case "ws":
    case "wss":
      return WebSocket.connect(url, { tls: options.tls })
    case "unix":
      return UnixSocket.connect(url)
    case "http":
    case "https":
      return Http2.connect(url, { tls: options.tls })
    default:
      return Effect.fail(
        new TransportError({
          reason: "Unsupported",
          message: `cannot dial "${url}": use a ws://, wss://, unix://, http:// (h2c) or https:// (HTTP/2) URL`
        })
      )
  }
}

/** Opens the transport of `target`; a URL is dialled by its scheme (`dialUrl`), closed with the scope. */
export const dial = <E = never, R = never>(
  target: Target<E, R>,
  options: { readonly tls?: ClientTls | undefined } = {}
): Effect.Effect<Connection, E | TransportError, R | Scope.Scope> =>
  typeof target === "string" ? dialUrl(target, options) : Effect.isEffect(target) ? target : Effect.succeed(target)

/** For mtls, `client.fingerprint` names the client certificate (§8.2): filled in from `tls.cert` unless given. */
const withCertificateFingerprint = (options: ConnectOptions): Effect.Effect<ConnectOptions, ArcpError> => {
  const cert = options.tls?.cert
  if (options.credentials.scheme !== "mtls" || options.client?.fingerprint !== undefined) return Effect.succeed(options)
  if (cert === undefined) {
    return Effect.fail(
      ArcpError.of("INVALID_ARGUMENT", "the mtls scheme needs tls.cert and tls.key, the client certificate to present")
    )
  }
  return Effect.try({
    try: () => ({
      ...options,
      client: { kind: "arcp-client", version: VERSION, ...options.client, fingerprint: fingerprintOfPem(cert) }
    }),
    catch: () => ArcpError.of("INVALID_ARGUMENT", "tls.cert is not a PEM certificate")
  })
}

/**
 * Connects to a runtime and opens a session, closed with the scope. Fails with
 * the runtime's `session.rejected` as an `ArcpError`, a `ClientError`
 * (fingerprint mismatch, timeout, closed) or the transport's `TransportError`.
 */
export const connect = <E = never, R = never>(
  target: Target<E, R>,
  options: ConnectOptions
): Effect.Effect<Session, ArcpError | ClientError | TransportError | E, R | Scope.Scope> =>
  Effect.flatMap(
    withCertificateFingerprint(options),
    (resolved) => Effect.flatMap(dial(target, resolved), (connection) => handshake(connection, resolved))
  )

/** The session as the `ArcpSession` service, open for the life of the layer. */
export const layer = <E = never, R = never>(
  target: Target<E, R>,
  options: ConnectOptions
): Layer.Layer<ArcpSession, ArcpError | ClientError | TransportError | E, Exclude<R, Scope.Scope>> =>
  Layer.scoped(ArcpSession, connect(target, options))
