/**
 * Scheduled and retried jobs: a runtime whose `lookup` tool fails UNAVAILABLE twice and
 * declares a retry policy, so the job retries under one job id (a log event per retry) and
 * succeeds on attempt 3; then the same tool scheduled to run in one second, its firing a job of
 * its own ending job.completed. Run it with `node --import tsx examples/12-scheduled-retries.ts` (against the sources) or, after `npm run build`, against the built package.
 */
import { Auth, Client, Errors, MemoryArtifactStore, MemoryEventLog, Runtime, Tools, Transport, WebSocket } from "arcp"
import { Console, Effect, Layer, Logger, LogLevel, Ref, Schema, Stream } from "effect"

const program = Effect.gen(function*() {
  // the upstream this tool calls is down for its first two calls
  const calls = yield* Ref.make(0)
  const lookup = Tools.make({
    name: "lookup",
    parameters: Schema.Struct({ key: Schema.String }),
    // up to 4 attempts, 50 ms then 100 ms then 200 ms apart; only the §18.3 retryable codes
    retry: { attempts: 4, backoff: { initial: "50 millis" } },
    handler: ({ key }, ctx) =>
      Effect.flatMap(Ref.updateAndGet(calls, (n) => n + 1), (n) =>
        n <= 2
          ? Effect.fail(Errors.ArcpError.of("UNAVAILABLE", "upstream is down"))
          : Effect.succeed({ key, value: key.toUpperCase(), attempt: ctx.attempt }))
  })
  const server = Runtime.serve.pipe(
    Layer.provideMerge(Runtime.layer({ identity: { kind: "scheduled-retries", version: "1.0.0" } })),
    Layer.provide(Layer.mergeAll(
      Auth.layer({ audience: "arcp://runtime", bearer: new Map([["secret", "alice"]]) }),
      MemoryEventLog.layer,
      MemoryArtifactStore.layer,
      Tools.layer([lookup])
    )),
    Layer.provideMerge(WebSocket.layer({ port: 0 }))
  )
  yield* Effect.gen(function*() {
    const { address } = yield* Transport.Acceptor
    const connection = yield* WebSocket.connect(address)
    const session = yield* Client.connect(connection, {
      credentials: { scheme: "bearer", token: "secret" },
      capabilities: { scheduled_jobs: true }
    })
    yield* Console.log(`scheduled_jobs ${session.capabilities.scheduled_jobs === true}`)

    const job = yield* session.invoke("lookup", { key: "ada" })
    yield* Stream.runForEach(job.events, (event) =>
      event.type === "log"
        ? Console.log(`retry ${String(Reflect.get(event.payload, "message"))}`)
        : Console.log(`event ${event.type}`))
    yield* Console.log(`result ${JSON.stringify(yield* job.outcome)}`)

    const schedule = yield* session.schedule("lookup", { key: "grace" }, { after: 1 })
    yield* Console.log(
      `scheduled ${schedule.scheduleId.slice(0, 4)}... (its firings name ${schedule.commandId.slice(0, 4)}...)`
    )
    const firing = yield* schedule.firings.pipe(
      Stream.takeUntil((m) => m.type === "job.completed"),
      Stream.runCollect
    )
    for (const event of firing) {
      if (event.type === "job.completed") yield* Console.log(`fired ${JSON.stringify(event.payload)}`)
    }
  }).pipe(Effect.provide(server))
})

Effect.runPromise(program.pipe(Effect.scoped, Logger.withMinimumLogLevel(LogLevel.Warning)))
