/** `arcp serve`: runs the runtime over WebSocket or stdio until SIGINT/SIGTERM (or, for stdio, the end of stdin). */
import { Command, Options } from "@effect/cli"
import { FileSystem } from "@effect/platform"
import { Config, Console, Effect, Option } from "effect"
import { createHash, randomBytes } from "node:crypto"
import { hostname } from "node:os"
import { resolve } from "node:path"
import * as Runtime from "../runtime/Runtime.js"
import * as Server from "../runtime/Server.js"
import { Acceptor } from "../transport/Transport.js"
import { VERSION } from "../Version.js"
import * as DemoTools from "./demoTools.js"

const env = <A>(options: Options.Options<A>, config: Config.Config<A>) =>
  options.pipe(Options.withFallbackConfig(config))

const options = {
  transport: env(Options.choice("transport", ["ws", "stdio"]), Config.literal("ws", "stdio")("ARCP_TRANSPORT")).pipe(
    Options.withDefault("ws" as const),
    Options.withDescription(
      "ws (WebSocket server) or stdio (newline-delimited JSON on stdin/stdout; serves one client) (default ws) [ARCP_TRANSPORT]"
    )
  ),
  host: env(Options.text("host"), Config.string("ARCP_HOST")).pipe(
    Options.withDefault("127.0.0.1"),
    Options.withDescription("address the WebSocket server listens on (default 127.0.0.1) [ARCP_HOST]")
  ),
  port: env(Options.integer("port"), Config.integer("ARCP_PORT")).pipe(
    Options.withDefault(7777),
    Options.withDescription("WebSocket port; 0 picks a free one (default 7777) [ARCP_PORT]")
  ),
  db: env(Options.text("db"), Config.string("ARCP_DB")).pipe(
    Options.withDefault("arcp.db"),
    Options.withDescription("SQLite file of the event log; :memory: keeps nothing (default arcp.db) [ARCP_DB]")
  ),
  bearer: Options.text("bearer").pipe(
    Options.repeated,
    Options.withDescription(
      "TOKEN=PRINCIPAL: accept bearer TOKEN for PRINCIPAL; repeatable (default none; with no scheme configured a development token is minted) [ARCP_BEARER, comma-separated]"
    )
  ),
  jwtSecret: env(Options.text("jwt-secret"), Config.string("ARCP_JWT_SECRET")).pipe(
    Options.optional,
    Options.withDescription("HS256/384/512 secret verifying signed_jwt (default none) [ARCP_JWT_SECRET]")
  ),
  jwtPublicKey: env(Options.text("jwt-public-key"), Config.string("ARCP_JWT_PUBLIC_KEY")).pipe(
    Options.optional,
    Options.withDescription("PEM public key or JWKS file verifying signed_jwt (default none) [ARCP_JWT_PUBLIC_KEY]")
  ),
  jwtAudience: env(Options.text("jwt-audience"), Config.string("ARCP_JWT_AUDIENCE")).pipe(
    Options.withDefault("arcp://runtime"),
    Options.withDescription("the runtime identity a JWT's aud must equal (default arcp://runtime) [ARCP_JWT_AUDIENCE]")
  ),
  jwtRequireNonce: Options.boolean("jwt-require-nonce").pipe(
    Options.withDescription("challenge every signed_jwt session to sign a fresh nonce (default off; no env var)")
  ),
  allowAnonymous: env(Options.boolean("allow-anonymous"), Config.boolean("ARCP_ALLOW_ANONYMOUS")).pipe(
    Options.withDefault(false),
    Options.withDescription(
      "allow scheme none when the client negotiates capabilities.anonymous (default off) [ARCP_ALLOW_ANONYMOUS]"
    )
  ),
  maxFrameBytes: env(Options.integer("max-frame-bytes"), Config.integer("ARCP_MAX_FRAME_BYTES")).pipe(
    Options.withDefault(1024 * 1024),
    Options.withDescription(
      "largest inbound frame in bytes; larger ones are nacked (default 1048576) [ARCP_MAX_FRAME_BYTES]"
    )
  ),
  idleTimeout: env(Options.integer("idle-timeout"), Config.integer("ARCP_IDLE_TIMEOUT")).pipe(
    Options.withDefault(300),
    Options.withDescription(
      "seconds without traffic before a session is evicted (§8.5) (default 300) [ARCP_IDLE_TIMEOUT]"
    )
  ),
  sessionLease: env(Options.integer("session-lease"), Config.integer("ARCP_SESSION_LEASE")).pipe(
    Options.withDefault(3600),
    Options.withDescription(
      "seconds a session's lease runs; --refresh-deadline before its end the client must re-authenticate (§8.4) (default 3600) [ARCP_SESSION_LEASE]"
    )
  ),
  refreshDeadline: env(Options.integer("refresh-deadline"), Config.integer("ARCP_REFRESH_DEADLINE")).pipe(
    Options.withDefault(30),
    Options.withDescription(
      "seconds a client has to answer session.refresh before it is evicted UNAUTHENTICATED; less than --session-lease (§8.4) (default 30) [ARCP_REFRESH_DEADLINE]"
    )
  ),
  fingerprint: env(Options.text("fingerprint"), Config.string("ARCP_FINGERPRINT")).pipe(
    Options.optional,
    Options.withDescription(
      "runtime fingerprint sent in session.accepted (§8.3) (default sha256 of host name and --db path) [ARCP_FINGERPRINT]"
    )
  ),
  heartbeatInterval: env(Options.integer("heartbeat-interval"), Config.integer("ARCP_HEARTBEAT_INTERVAL")).pipe(
    Options.withDefault(30),
    Options.withDescription(
      "seconds between job heartbeats offered to clients (§10.3) (default 30) [ARCP_HEARTBEAT_INTERVAL]"
    )
  ),
  heartbeatRecovery: env(
    Options.choice("heartbeat-recovery", ["fail", "block"]),
    Config.literal("fail", "block")("ARCP_HEARTBEAT_RECOVERY")
  ).pipe(
    Options.withDefault("fail" as const),
    Options.withDescription(
      "after 2 missed liveness deadlines: fail the job (HEARTBEAT_LOST) or block it (§10.3) (default fail) [ARCP_HEARTBEAT_RECOVERY]"
    )
  ),
  idempotencyHorizon: env(Options.integer("idempotency-horizon"), Config.integer("ARCP_IDEMPOTENCY_HORIZON")).pipe(
    Options.withDefault(86_400),
    Options.withDescription(
      "seconds an idempotency_key is remembered (§6.4) (default 86400) [ARCP_IDEMPOTENCY_HORIZON]"
    )
  ),
  cancelDeadline: env(Options.integer("cancel-deadline-ms"), Config.integer("ARCP_CANCEL_DEADLINE_MS")).pipe(
    Options.withDefault(5000),
    Options.withDescription(
      "ms a cancelled job has to stop when cancel names no deadline_ms, before it ends ABORTED (§10.4) (default 5000) [ARCP_CANCEL_DEADLINE_MS]"
    )
  ),
  noDemoTools: Options.boolean("no-demo-tools").pipe(
    Options.withDescription(
      "leave out the demo tools echo, ticker, stream, sleep, stubborn, fail (default off; no env var)"
    )
  )
}

const parseBearer = (entries: ReadonlyArray<string>) =>
  Effect.forEach(entries, (entry) => {
    const eq = entry.indexOf("=")
    return eq <= 0 || eq === entry.length - 1
      ? Effect.fail(new Error(`--bearer expects TOKEN=PRINCIPAL, got "${entry}"`))
      : Effect.succeed([entry.slice(0, eq), entry.slice(eq + 1)] as const)
  })

export const serve = Command.make("serve", options, (o) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const fromEnv = (yield* Config.string("ARCP_BEARER").pipe(Config.withDefault(""))).split(",").filter((s) =>
      s !== ""
    )
    const bearer = new Map(yield* parseBearer([...o.bearer, ...fromEnv]))
    // the refresh is sent --refresh-deadline before the lease ends: a deadline as long as the lease would refresh at once, forever
    if (o.refreshDeadline < 1 || o.sessionLease <= o.refreshDeadline) {
      return yield* Effect.fail(
        new Error(
          `--refresh-deadline (${o.refreshDeadline}) must be at least 1 and less than --session-lease (${o.sessionLease})`
        )
      )
    }
    const jwtPublicKey = Option.isSome(o.jwtPublicKey) ? yield* fs.readFileString(o.jwtPublicKey.value) : undefined
    const jwks = jwtPublicKey?.trimStart().startsWith("{") ? JSON.parse(jwtPublicKey) : undefined
    const anyAuth = bearer.size > 0 || Option.isSome(o.jwtSecret) || jwtPublicKey !== undefined || o.allowAnonymous
    // no credentials configured: mint a development token rather than run a server nobody can use
    const devToken = anyAuth ? undefined : randomBytes(18).toString("base64url")
    if (devToken !== undefined) bearer.set(devToken, "dev")
    const say = o.transport === "stdio" ? Console.error : Console.log
    const fingerprint = Option.getOrElse(
      o.fingerprint,
      () => `sha256:${createHash("sha256").update(`${hostname()}:${resolve(o.db)}`).digest("hex")}`
    )

    const server = Server.layer({
      db: o.db,
      tools: o.noDemoTools ? [] : DemoTools.all,
      identity: { kind: "arcp", version: VERSION, fingerprint },
      audience: o.jwtAudience,
      maxFrameBytes: o.maxFrameBytes,
      idleTimeout: `${o.idleTimeout} seconds`,
      sessionLease: `${o.sessionLease} seconds`,
      refreshDeadline: `${o.refreshDeadline} seconds`,
      heartbeatIntervalSeconds: o.heartbeatInterval,
      heartbeatRecovery: o.heartbeatRecovery,
      idempotencyHorizon: `${o.idempotencyHorizon} seconds`,
      cancelDeadline: `${o.cancelDeadline} millis`,
      auth: {
        bearer,
        jwtSecret: Option.getOrUndefined(o.jwtSecret),
        jwtPublicKey: jwks === undefined ? jwtPublicKey : undefined,
        jwks,
        jwtRequireNonce: o.jwtRequireNonce,
        allowAnonymous: o.allowAnonymous
      },
      transport: o.transport === "ws"
        ? { kind: "ws", host: o.host, port: o.port }
        : { kind: "stdio", input: process.stdin, output: process.stdout }
    })

    yield* Effect.gen(function*() {
      const acceptor = yield* Acceptor
      yield* say(
        `arcp ${VERSION} serving on ${acceptor.address} (event log ${o.db}, runtime fingerprint ${fingerprint})`
      )
      if (devToken !== undefined) {
        yield* say(
          `no credentials configured: generated a development bearer token for principal "dev":\n  ${devToken}`
        )
      }
      if (o.transport === "ws") {
        yield* say(`try it:  npx arcp send --url ${acceptor.address} --token ${devToken ?? "<token>"} --type ping`)
      }
      // stdio serves one connection: when stdin ends the server is done; a socket server runs until a signal
      if (o.transport === "stdio") return yield* (yield* Runtime.Serving).stopped
      return yield* Effect.never
    }).pipe(Effect.provide(server))
  })).pipe(Command.withDescription("Run the ARCP runtime (WebSocket on 127.0.0.1:7777 by default, or stdio)"))
