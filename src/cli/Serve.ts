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
import * as DemoTools from "./demoTools.js"
import { VERSION } from "./Version.js"

const env = <A>(options: Options.Options<A>, config: Config.Config<A>) => options.pipe(Options.withFallbackConfig(config))

const options = {
  transport: env(Options.choice("transport", ["ws", "stdio"]), Config.literal("ws", "stdio")("ARCP_TRANSPORT")).pipe(
    Options.withDefault("ws" as const),
    Options.withDescription("ws (WebSocket server) or stdio (newline-delimited JSON on stdin/stdout) [ARCP_TRANSPORT]")
  ),
  host: env(Options.text("host"), Config.string("ARCP_HOST")).pipe(Options.withDefault("127.0.0.1"), Options.withDescription("[ARCP_HOST]")),
  port: env(Options.integer("port"), Config.integer("ARCP_PORT")).pipe(Options.withDefault(7777), Options.withDescription("0 picks a free port [ARCP_PORT]")),
  db: env(Options.text("db"), Config.string("ARCP_DB")).pipe(Options.withDefault("arcp.db"), Options.withDescription("SQLite file [ARCP_DB]")),
  bearer: Options.text("bearer").pipe(Options.repeated, Options.withDescription("TOKEN=PRINCIPAL, repeatable [ARCP_BEARER: comma-separated]")),
  jwtSecret: env(Options.text("jwt-secret"), Config.string("ARCP_JWT_SECRET")).pipe(Options.optional, Options.withDescription("HS256 secret for signed_jwt [ARCP_JWT_SECRET]")),
  jwtPublicKey: env(Options.text("jwt-public-key"), Config.string("ARCP_JWT_PUBLIC_KEY")).pipe(Options.optional, Options.withDescription("PEM public key or JWKS file for signed_jwt [ARCP_JWT_PUBLIC_KEY]")),
  jwtAudience: env(Options.text("jwt-audience"), Config.string("ARCP_JWT_AUDIENCE")).pipe(Options.withDefault("arcp://runtime"), Options.withDescription("the runtime identity a JWT's aud must equal [ARCP_JWT_AUDIENCE]")),
  jwtRequireNonce: Options.boolean("jwt-require-nonce").pipe(Options.withDescription("challenge every signed_jwt session to sign a fresh nonce")),
  allowAnonymous: env(Options.boolean("allow-anonymous"), Config.boolean("ARCP_ALLOW_ANONYMOUS")).pipe(Options.withDefault(false), Options.withDescription("allow scheme none when the client negotiates capabilities.anonymous [ARCP_ALLOW_ANONYMOUS]")),
  maxFrameBytes: env(Options.integer("max-frame-bytes"), Config.integer("ARCP_MAX_FRAME_BYTES")).pipe(Options.withDefault(1024 * 1024)),
  idleTimeout: env(Options.integer("idle-timeout"), Config.integer("ARCP_IDLE_TIMEOUT")).pipe(Options.withDefault(300), Options.withDescription("seconds without traffic before a session is evicted [ARCP_IDLE_TIMEOUT]")),
  fingerprint: env(Options.text("fingerprint"), Config.string("ARCP_FINGERPRINT")).pipe(Options.optional),
  heartbeatInterval: env(Options.integer("heartbeat-interval"), Config.integer("ARCP_HEARTBEAT_INTERVAL")).pipe(Options.withDefault(30), Options.withDescription("seconds between job heartbeats offered to clients (§10.3) [ARCP_HEARTBEAT_INTERVAL]")),
  heartbeatRecovery: env(Options.choice("heartbeat-recovery", ["fail", "block"]), Config.literal("fail", "block")("ARCP_HEARTBEAT_RECOVERY")).pipe(Options.withDefault("fail" as const), Options.withDescription("after 2 missed liveness deadlines: fail the job (HEARTBEAT_LOST) or block it (§10.3) [ARCP_HEARTBEAT_RECOVERY]")),
  idempotencyHorizon: env(Options.integer("idempotency-horizon"), Config.integer("ARCP_IDEMPOTENCY_HORIZON")).pipe(Options.withDefault(86_400), Options.withDescription("seconds an idempotency_key is remembered (§6.4) [ARCP_IDEMPOTENCY_HORIZON]")),
  cancelDeadline: env(Options.integer("cancel-deadline-ms"), Config.integer("ARCP_CANCEL_DEADLINE_MS")).pipe(Options.withDefault(5000), Options.withDescription("ms a cancelled job has to stop when cancel names no deadline_ms, before it ends ABORTED (§10.4) [ARCP_CANCEL_DEADLINE_MS]")),
  noDemoTools: Options.boolean("no-demo-tools").pipe(Options.withDescription("leave out the demo tools (echo, ticker, stream, sleep, stubborn, fail)"))
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
    const fromEnv = (yield* Config.string("ARCP_BEARER").pipe(Config.withDefault(""))).split(",").filter((s) => s !== "")
    const bearer = new Map(yield* parseBearer([...o.bearer, ...fromEnv]))
    const jwtPublicKey = Option.isSome(o.jwtPublicKey) ? yield* fs.readFileString(o.jwtPublicKey.value) : undefined
    const jwks = jwtPublicKey?.trimStart().startsWith("{") ? JSON.parse(jwtPublicKey) : undefined
    const anyAuth = bearer.size > 0 || Option.isSome(o.jwtSecret) || jwtPublicKey !== undefined || o.allowAnonymous
    // no credentials configured: mint a development token rather than run a server nobody can use
    const devToken = anyAuth ? undefined : randomBytes(18).toString("base64url")
    if (devToken !== undefined) bearer.set(devToken, "dev")
    const say = o.transport === "stdio" ? Console.error : Console.log
    const fingerprint = Option.getOrElse(o.fingerprint, () =>
      `sha256:${createHash("sha256").update(`${hostname()}:${resolve(o.db)}`).digest("hex")}`)

    const server = Server.layer({
      db: o.db,
      tools: o.noDemoTools ? [] : DemoTools.all,
      identity: { kind: "arcp", version: VERSION, fingerprint },
      audience: o.jwtAudience,
      maxFrameBytes: o.maxFrameBytes,
      idleTimeout: `${o.idleTimeout} seconds`,
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
      yield* say(`arcp ${VERSION} serving on ${acceptor.address} (event log ${o.db}, runtime fingerprint ${fingerprint})`)
      if (devToken !== undefined) {
        yield* say(`no credentials configured: generated a development bearer token for principal "dev":\n  ${devToken}`)
      }
      if (o.transport === "ws") {
        yield* say(`try it:  npx arcp send --url ${acceptor.address} --token ${devToken ?? "<token>"} --type ping`)
      }
      // stdio serves one connection: when stdin ends the server is done; a socket server runs until a signal
      if (o.transport === "stdio") return yield* (yield* Runtime.Serving).stopped
      return yield* Effect.never
    }).pipe(Effect.provide(server))
  })
).pipe(Command.withDescription("Run the ARCP runtime (WebSocket on 127.0.0.1:7777 by default, or stdio)"))
