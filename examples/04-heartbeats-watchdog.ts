/**
 * Heartbeats and the watchdog (RFC §10.3): the session negotiates a heartbeat interval (1 s here; the
 * default is 30 s). For an ordinary tool the runtime vouches for the job and sends `job.heartbeat` each
 * interval. A tool declared `liveness: "reported"` must call `ctx.heartbeat` itself: once it stays
 * silent for two intervals the watchdog ends the job HEARTBEAT_LOST (or, with
 * `heartbeatRecovery: "block"`, moves it to `blocked` until it reports again).
 *
 * Run it: node --import tsx examples/04-heartbeats-watchdog.ts
 */
import { ArcpClient, Server, Tools, Transport } from "arcp"
import { Console, Effect, Logger, LogLevel, Schema, Stream } from "effect"

const render = Tools.make({
  name: "render",
  parameters: Schema.Struct({}),
  handler: () => Effect.as(Effect.sleep("1500 millis"), { frames: 24 })
})

// reports its own liveness, then hangs (a deadlock, a lost worker...)
const worker = Tools.make({
  name: "worker",
  liveness: "reported",
  parameters: Schema.Struct({}),
  handler: (_args, ctx) =>
    Effect.gen(function*() {
      yield* ctx.heartbeat
      yield* Effect.sleep("500 millis")
      yield* ctx.heartbeat
      return yield* Effect.never
    })
})

const Runtime = Server.layer({
  auth: { bearer: new Map([["s3cret", "alice"]]) },
  transport: { kind: "ws", port: 0 },
  db: ":memory:",
  tools: [render, worker],
  heartbeatIntervalSeconds: 1
})

const program = Effect.gen(function*() {
  const { address } = yield* Transport.Acceptor
  const session = yield* ArcpClient.connect(address, {
    credentials: { scheme: "bearer", token: "s3cret" },
    capabilities: { heartbeat_interval_seconds: 1 }
  })
  yield* Console.log(`heartbeat interval ${session.capabilities.heartbeat_interval_seconds} s`)

  for (const tool of ["render", "worker"]) {
    const job = yield* session.invoke(tool, {})
    yield* Stream.runForEach(job.events, (event) =>
      event.type === "job.heartbeat"
        ? Console.log(`${tool}: job.heartbeat #${event.payload.sequence} (${event.payload.state})`)
        : event.type === "job.failed" || event.type === "tool.result"
        ? Console.log(`${tool}: ${event.type}`)
        : Effect.void)
    yield* Effect.matchEffect(job.outcome, {
      onSuccess: (value) => Console.log(`${tool}: result ${JSON.stringify(value)}`),
      onFailure: (error) => Console.log(`${tool}: ${"code" in error ? error.code : error._tag} ${error.message}`)
    })
  }
})

Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(Runtime), Logger.withMinimumLogLevel(LogLevel.Error)))
