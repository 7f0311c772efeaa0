/**
 * The server of the runtime-core suite, described once and built two ways: in
 * this process on any transport (`coreServer`), or as the flags of a spawned
 * `arcp serve --transport stdio` (`cliArgs`). Plus raw-connection helpers.
 */
import { assert } from "@effect/vitest"
import { Deferred, Effect, Either, Layer, Logger, LogLevel, Queue, type Scope, Stream } from "effect"
import * as jose from "jose"
import { generateKeyPairSync } from "node:crypto"
import { rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { make as makeEnvelope } from "../../src/protocol/Envelope.js"
import { SessionId } from "../../src/protocol/Ids.js"
import { type Decoded, decodeJson, encodeUnchecked } from "../../src/protocol/Message.js"
import * as Auth from "../../src/runtime/auth/Auth.js"
import * as Runtime from "../../src/runtime/Runtime.js"
import type * as RuntimeConfig from "../../src/runtime/RuntimeConfig.js"
import * as Tools from "../../src/runtime/Tools.js"
import type { EventLog } from "../../src/store/EventLog.js"
import * as MemoryArtifactStore from "../../src/store/MemoryArtifactStore.js"
import * as MemoryEventLog from "../../src/store/MemoryEventLog.js"
import type { ClientTls } from "../../src/transport/Tls.js"
import type { Acceptor, Connection } from "../../src/transport/Transport.js"
import { VERSION } from "../../src/Version.js"
import { type Dialer, fromAcceptorWith } from "./Dialer.js"
import { field } from "./Harness.js"

export const SECRET = "0123456789abcdef0123456789abcdef"
export const AUDIENCE = "arcp://runtime"
export const FINGERPRINT = "sha256:test-runtime"
/** What `session.accepted` says the runtime is, in process and as `arcp serve --fingerprint`. */
export const IDENTITY = { kind: "arcp", version: VERSION, fingerprint: FINGERPRINT, trust_level: "trusted" }
export const rsa = generateKeyPairSync("rsa", {
  modulusLength: 2048,
  publicKeyEncoding: { type: "spki", format: "pem" },
  privateKeyEncoding: { type: "pkcs8", format: "pem" }
})

/** How the suite's server is set up; every field maps to an `arcp serve` flag except `runtime`. */
export interface SuiteOptions {
  /** signed_jwt verification: the HS256 secret (default), the secret plus a nonce challenge on every open, or an RSA public key. */
  readonly jwt?: "secret" | "nonce" | "rsa" | undefined
  readonly allowAnonymous?: boolean | undefined
  readonly maxFrameBytes?: number | undefined
  /** Seconds without traffic before eviction. */
  readonly idleTimeoutSeconds?: number | undefined
  /** Further settings, for in-process servers only. */
  readonly runtime?: RuntimeConfig.Options | undefined
}

/** The services an in-process server exposes to the tests besides the dialer. */
export type InProcess = Runtime.Provided | Runtime.Serving | EventLog | Acceptor

const jwtOptions = (jwt: SuiteOptions["jwt"]): Auth.JwtOptions =>
  jwt === "rsa" ? { publicKey: rsa.publicKey } : { secret: SECRET, requireNonce: jwt === "nonce" }

/** The suite's server in this process on `transport`: bearer `good-token` = alice, JWT per `options`, no tools. */
export const coreServer = <E>(
  transport: Layer.Layer<Acceptor, E>,
  options: SuiteOptions = {},
  /** What the dialling client trusts and presents (wss://, https://). */
  clientTls?: ClientTls
): Layer.Layer<Dialer | InProcess, E> =>
  Runtime.serve.pipe(
    Layer.provideMerge(Runtime.layer({
      identity: { kind: IDENTITY.kind, version: IDENTITY.version, fingerprint: FINGERPRINT },
      ...(options.maxFrameBytes !== undefined ? { maxFrameBytes: options.maxFrameBytes } : {}),
      ...(options.idleTimeoutSeconds !== undefined ? { idleTimeout: `${options.idleTimeoutSeconds} seconds` } : {}),
      ...options.runtime
    })),
    Layer.provide(Layer.mergeAll(
      Auth.layer({
        audience: AUDIENCE,
        bearer: new Map([["good-token", "alice"]]),
        jwt: jwtOptions(options.jwt),
        allowAnonymous: options.allowAnonymous === true
      }),
      Tools.layer([])
    )),
    Layer.provideMerge(MemoryEventLog.layer),
    Layer.provideMerge(MemoryArtifactStore.layer),
    Layer.provideMerge(transport),
    (server) => fromAcceptorWith(clientTls).pipe(Layer.provideMerge(server)),
    Layer.provide(Logger.minimumLogLevel(LogLevel.None))
  )

let rsaKeyFile: string | undefined
/** The RSA public key as a file, for `--jwt-public-key`. */
const rsaPublicKeyFile = () => {
  if (rsaKeyFile === undefined) {
    const file = join(tmpdir(), `arcp-test-rsa-${process.pid}.pem`)
    writeFileSync(file, rsa.publicKey)
    process.once("exit", () => rmSync(file, { force: true }))
    rsaKeyFile = file
  }
  return rsaKeyFile
}

/** The same server as `arcp serve` flags. */
export const cliArgs = (options: SuiteOptions = {}): ReadonlyArray<string> => [
  "--bearer",
  "good-token=alice",
  "--fingerprint",
  FINGERPRINT,
  "--no-demo-tools",
  ...(options.jwt === "rsa" ? ["--jwt-public-key", rsaPublicKeyFile()] : ["--jwt-secret", SECRET]),
  ...(options.jwt === "nonce" ? ["--jwt-require-nonce"] : []),
  ...(options.allowAnonymous === true ? ["--allow-anonymous"] : []),
  ...(options.maxFrameBytes !== undefined ? ["--max-frame-bytes", String(options.maxFrameBytes)] : []),
  ...(options.idleTimeoutSeconds !== undefined ? ["--idle-timeout", String(options.idleTimeoutSeconds)] : [])
]

/** Signs an HS256 JWT for agent-1 with the suite's secret. */
export const sign = (
  claims: jose.JWTPayload,
  options: { readonly audience?: string; readonly expires?: string } = {}
) =>
  Effect.promise(() =>
    new jose.SignJWT(claims).setProtectedHeader({ alg: "HS256" }).setSubject("agent-1").setAudience(
      options.audience ?? AUDIENCE
    )
      .setIssuedAt().setExpirationTime(options.expires ?? "5m").sign(new TextEncoder().encode(SECRET))
  )

/** What `reader` gives: the next decoded message, the queue behind it, and when the incoming stream ended. */
export interface Read {
  readonly next: Effect.Effect<Decoded>
  readonly queue: Queue.Queue<Decoded>
  /** Completes once the connection's incoming stream has ended (closed or failed): the far side hung up. */
  readonly ended: Deferred.Deferred<void>
}

/** Reads decoded messages off a raw connection. */
export const reader = (connection: Connection): Effect.Effect<Read, never, Scope.Scope> =>
  Effect.gen(function*() {
    const queue = yield* Queue.unbounded<Decoded>()
    const ended = yield* Deferred.make<void>()
    yield* connection.incoming.pipe(
      Stream.runForEach((frame) => {
        if (frame._tag !== "Text") return Effect.void
        const decoded = decodeJson(frame.text)
        return Either.isRight(decoded) ? Queue.offer(queue, decoded.right) : Effect.void
      }),
      Effect.ignore,
      // only a stream that ran out marks the end; the scope interrupting the reader does not
      Effect.zipRight(Deferred.succeed(ended, undefined)),
      Effect.forkScoped
    )
    return { next: Queue.take(queue), queue, ended }
  })

/** Builds an envelope and sends it on a raw connection, returning it (for its id). */
export const sendEnvelope = (connection: Connection, envelope: Effect.Effect<Decoded>) =>
  Effect.tap(envelope, (message) => connection.send(encodeUnchecked(message)))

/** Sends a hand-written frame: `fields` over a minimal envelope (protocol version, a fixed timestamp, empty payload). */
export const sendRaw = (connection: Connection, fields: Record<string, unknown>) =>
  connection.send(JSON.stringify({ arcp: "1.0", timestamp: "2026-05-09T13:00:00Z", payload: {}, ...fields }))

/** Reads the next message and asserts it is a nack with `code` (and, when given, answering `correlationId`). */
export const expectNack = (read: Read, code: string, correlationId?: string) =>
  Effect.map(read.next, (message) => {
    assert.deepStrictEqual(
      [message.type, field(message, "code"), ...(correlationId === undefined ? [] : [message.correlation_id])],
      ["nack", code, ...(correlationId === undefined ? [] : [correlationId])]
    )
    return message
  })

/** Opens a session on a raw connection by hand (bearer `token`), returning the reader and the session.accepted. */
export const rawSession = (
  connection: Connection,
  capabilities: Record<string, unknown> = {},
  token = "good-token"
) =>
  Effect.gen(function*() {
    const read = yield* reader(connection)
    const open = yield* makeEnvelope("session.open", {
      auth: { scheme: "bearer", token },
      client: { kind: "raw", version: "1" },
      capabilities
    })
    yield* connection.send(encodeUnchecked(open))
    const accepted = yield* read.next
    assert.strictEqual(accepted.type, "session.accepted")
    const sessionId = String(field(accepted, "session_id"))
    return {
      read,
      accepted,
      open,
      sessionId,
      /** Sends an envelope of this session (its `session_id` set, §6.1.1). */
      send: (envelope: Effect.Effect<Decoded>) =>
        sendEnvelope(connection, Effect.map(envelope, (e) => ({ ...e, session_id: SessionId.make(sessionId) }))),
      /** `sendRaw` with this session's `session_id`. */
      sendRaw: (fields: Record<string, unknown>) => sendRaw(connection, { session_id: sessionId, ...fields })
    }
  })
