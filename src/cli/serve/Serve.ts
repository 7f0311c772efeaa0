/** `arcp serve`: runs the runtime over WebSocket, stdio, a Unix socket or HTTP/2 (or several) until SIGINT/SIGTERM (or, for stdio, the end of stdin). */
import { Command } from "@effect/cli"
import * as FileSystem from "@effect/platform/FileSystem"
import { Config, Console, Effect, Either, Option } from "effect"
import { createHash, randomBytes } from "node:crypto"
import { hostname } from "node:os"
import { resolve } from "node:path"
import * as McpSpec from "../../mcp/Spec.js"
import * as Remotes from "../../runtime/delegation/Remotes.js"
import * as Observation from "../../runtime/events/Observation.js"
import type * as Trust from "../../runtime/permissions/Trust.js"
import * as Runtime from "../../runtime/Runtime.js"
import * as Server from "../../runtime/Server.js"
import * as Combined from "../../transport/Combined.js"
import { Acceptor } from "../../transport/Transport.js"
import { VERSION } from "../../Version.js"
import * as DemoTools from "../demoTools.js"
import { CliError, usage } from "../Failure.js"
import * as ServeAuth from "./ServeAuth.js"
import * as ServeDashboard from "./ServeDashboard.js"
import { explainStartFailure, resolveStore } from "./ServeFailure.js"
import { options, parseBearer, splitTrust } from "./ServeOptions.js"
import * as ServeTransports from "./ServeTransports.js"

export const serve = Command.make("serve", options, (o) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const fromEnv = (yield* Config.string("ARCP_BEARER").pipe(Config.withDefault(""))).split(",").filter((s) =>
      s !== ""
    )
    const trustLevels = new Map<string, Trust.TrustLevel>()
    const bearer = new Map(
      (yield* parseBearer([...o.bearer, ...fromEnv])).map(([token, entry]) => {
        const [principal, level] = splitTrust(entry)
        if (level !== undefined) trustLevels.set(principal, level)
        return [token, principal] as const
      })
    )
    const observerEntries = (yield* Config.string("ARCP_OBSERVERS").pipe(Config.withDefault(""))).split(";")
      .filter((s) => s.trim() !== "")
    const observers = new Map(
      yield* Effect.forEach([...o.observer, ...observerEntries], (entry) => {
        const parsed = Observation.parseFlag(entry)
        return typeof parsed === "string" ? Effect.fail(usage(parsed)) : Effect.succeed(parsed)
      })
    )
    const mcp = yield* Effect.forEach(o.mcp, (entry) => Either.mapLeft(McpSpec.parse(entry), (m) => new Error(m)))
    // the refresh is sent --refresh-deadline before the lease ends: a deadline as long as the lease would refresh at once, forever
    if (o.refreshDeadline < 1 || o.sessionLease <= o.refreshDeadline) {
      return yield* usage(
        `--refresh-deadline (${o.refreshDeadline}) must be at least 1 and less than --session-lease (${o.sessionLease})`
      )
    }
    // a session.open alone nests 4 levels (envelope, payload, capabilities, extensions)
    if (o.maxJsonDepth < 4) {
      return yield* usage(`--max-json-depth (${o.maxJsonDepth}) must be at least 4`)
    }
    if (o.instanceHeartbeat < 0 || (o.instanceHeartbeat > 0 && o.instanceLapse < 2 * o.instanceHeartbeat)) {
      return yield* usage(
        `--instance-lapse (${o.instanceLapse}) must be at least twice --instance-heartbeat (${o.instanceHeartbeat}), which must not be negative`
      )
    }
    if (o.logRetention < 0 || o.replayRetention < 0) {
      return yield* usage(
        `--log-retention (${o.logRetention}) and --replay-retention (${o.replayRetention}) must not be negative (--log-retention 0 keeps the whole log, --replay-retention 0 turns replay off)`
      )
    }
    if (o.artifactTtl < 1 || o.artifactMaxTtl < o.artifactTtl) {
      return yield* usage(
        `--artifact-ttl (${o.artifactTtl}) must be at least 1 and at most --artifact-max-ttl (${o.artifactMaxTtl})`
      )
    }
    const limits = {
      "--max-outbound-bytes": o.maxOutboundBytes,
      "--max-outbound-envelopes": o.maxOutboundEnvelopes,
      "--backpressure-timeout": o.backpressureTimeout,
      "--stalled-reader-timeout": o.stalledReaderTimeout,
      "--max-sessions": o.maxSessions,
      "--max-jobs-per-session": o.maxJobsPerSession,
      "--max-pending-human": o.maxPendingHuman
    }
    for (const [flag, value] of Object.entries(limits)) {
      if (value < 1) return yield* usage(`${flag} must be at least 1, got ${value}`)
    }
    const store = yield* resolveStore(o)
    const jwtPublicKey = Option.isSome(o.jwtPublicKey)
      ? yield* fs.readFileString(o.jwtPublicKey.value).pipe(
        Effect.mapError(() =>
          usage(`--jwt-public-key ${o.jwtPublicKey.pipe(Option.getOrElse(() => ""))} cannot be read`)
        )
      )
      : undefined
    const jwks = jwtPublicKey?.trimStart().startsWith("{") ? JSON.parse(jwtPublicKey) : undefined
    // a mistake in the flags is one sentence, not an unexpected failure
    const sentence = (e: Error) => new CliError({ message: e.message })
    const enterprise = yield* ServeAuth.resolve(o, o.jwtAudience).pipe(Effect.mapError(sentence))
    const anyAuth = bearer.size > 0 || Option.isSome(o.jwtSecret) || jwtPublicKey !== undefined || o.allowAnonymous ||
      enterprise.mtls !== undefined || enterprise.oauth2 !== undefined
    // no credentials configured: mint a development token rather than run a server nobody can use
    const devToken = anyAuth ? undefined : randomBytes(18).toString("base64url")
    if (devToken !== undefined) bearer.set(devToken, "dev")
    const transports = yield* ServeTransports.resolve(o, { input: process.stdin, output: process.stdout }).pipe(
      Effect.mapError(sentence)
    )
    const stdio = transports.some((t) => t.kind === "stdio")
    const say = stdio ? Console.error : Console.log
    const fingerprint = Option.getOrElse(
      o.fingerprint,
      () => `sha256:${createHash("sha256").update(`${hostname()}:${store.url ?? resolve(store.db)}`).digest("hex")}`
    )

    const remotes = Option.isSome(o.remotes)
      ? yield* fs.readFileString(o.remotes.value).pipe(
        Effect.mapError(() => usage(`--remotes ${o.remotes.pipe(Option.getOrElse(() => ""))} cannot be read`)),
        Effect.flatMap((text) =>
          Effect.mapError(
            Remotes.parse(text),
            (why) => usage(`--remotes ${Option.getOrElse(o.remotes, () => "")}: ${why}`)
          )
        )
      )
      : undefined

    const server = Server.layer({
      remotes,
      otlp: { endpoint: Option.getOrUndefined(o.otlpEndpoint), serviceVersion: VERSION },
      db: store.db,
      store: store.url,
      durability: o.durability,
      tools: o.noDemoTools ? [] : DemoTools.all,
      mcp,
      identity: { kind: "arcp", version: VERSION, fingerprint },
      audience: o.jwtAudience,
      maxFrameBytes: o.maxFrameBytes,
      maxJsonDepth: o.maxJsonDepth,
      idleTimeout: `${o.idleTimeout} seconds`,
      resumeWindow: `${o.resumeWindow} seconds`,
      replayRetention: `${o.replayRetention} seconds`,
      logRetention: `${o.logRetention} seconds`,
      instanceHeartbeat: `${o.instanceHeartbeat} seconds`,
      instanceLapse: `${o.instanceLapse} seconds`,
      sessionLease: `${o.sessionLease} seconds`,
      refreshDeadline: `${o.refreshDeadline} seconds`,
      heartbeatIntervalSeconds: o.heartbeatInterval,
      heartbeatRecovery: o.heartbeatRecovery,
      idempotencyHorizon: `${o.idempotencyHorizon} seconds`,
      cancelDeadline: `${o.cancelDeadline} millis`,
      artifactsDir: Option.getOrUndefined(o.artifactsDir),
      artifactRetention: { defaultSeconds: o.artifactTtl, maxSeconds: o.artifactMaxTtl },
      maxArtifactBytes: o.maxArtifactBytes,
      artifactQuotaBytes: o.artifactQuotaBytes,
      maxOutboundBytes: o.maxOutboundBytes,
      maxOutboundEnvelopes: o.maxOutboundEnvelopes,
      backpressureTimeout: `${o.backpressureTimeout} seconds`,
      stalledReaderTimeout: `${o.stalledReaderTimeout} seconds`,
      maxSessions: o.maxSessions,
      maxJobsPerSession: o.maxJobsPerSession,
      maxPendingHuman: o.maxPendingHuman,
      defaultTrustLevel: o.defaultTrust,
      permissionRequestTimeout: `${o.permissionTimeout} seconds`,
      maxLeaseDuration: `${o.maxLease} seconds`,
      auth: {
        bearer,
        trustLevels,
        observers,
        jwtSecret: Option.getOrUndefined(o.jwtSecret),
        jwtPublicKey: jwks === undefined ? jwtPublicKey : undefined,
        jwks,
        jwtRequireNonce: o.jwtRequireNonce,
        allowAnonymous: o.allowAnonymous,
        mtls: enterprise.mtls,
        oauth2: enterprise.oauth2
      },
      transport: transports
    })

    yield* Effect.gen(function*() {
      const acceptor = yield* Acceptor
      yield* say(
        `arcp ${VERSION} serving on ${acceptor.address} (event log ${store.label}, runtime fingerprint ${fingerprint})`
      )
      if (devToken !== undefined) {
        yield* say(
          `no credentials configured: generated a development bearer token for principal "dev":\n  ${devToken}`
        )
      }
      if (!stdio) {
        for (const address of Combined.addressesOf(acceptor.address)) {
          yield* say(`try it:  npx arcp send --url ${address} --token ${devToken ?? "<token>"} --type ping`)
        }
        yield* ServeDashboard.start(o, acceptor.address, devToken, say)
      }
      // stdio serves one connection: when stdin ends the server is done; a socket server runs until a signal
      if (stdio) return yield* (yield* Runtime.Serving).stopped
      return yield* Effect.never
    }).pipe(
      Effect.scoped,
      Effect.provide(server),
      // a taken port or an unusable --db: one sentence, not the error three causes deep
      Effect.catchAllCause((cause): Effect.Effect<never, unknown> => {
        const explained = explainStartFailure(cause, { ...o, ...store })
        return explained === undefined ? Effect.failCause(cause) : Effect.fail(explained)
      })
    )
  })).pipe(Command.withDescription(
    "Run the ARCP runtime (WebSocket on 127.0.0.1:7777 by default; or stdio, a Unix socket, HTTP/2, or several at once)"
  ))
