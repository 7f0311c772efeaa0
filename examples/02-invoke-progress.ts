/**
 * Invoke a tool and follow its progress (RFC §10.1): a typed tool (its arguments checked by an Effect
 * Schema before the job starts) reports `job.progress` as it works; the client reads the job's events
 * up to its terminal and then its result. Bad arguments are refused INVALID_ARGUMENT, no job started.
 *
 * Run it: node --import tsx examples/02-invoke-progress.ts
 */
import { ArcpClient, Server, Tools, Transport } from "arcp"
import { Console, Effect, Logger, LogLevel, Schema, Stream } from "effect"

const resize = Tools.make({
  name: "resize",
  parameters: Schema.Struct({ images: Schema.Int.pipe(Schema.positive()) }),
  handler: ({ images }, ctx) =>
    Effect.gen(function*() {
      for (let done = 1; done <= images; done++) {
        yield* Effect.sleep("20 millis") // the work
        yield* ctx.progress({ current: done, total: images, message: `image ${done}` })
      }
      return { resized: images }
    })
})

const Runtime = Server.layer({
  auth: { bearer: new Map([["s3cret", "alice"]]) },
  transport: { kind: "ws", port: 0 },
  db: ":memory:",
  tools: [resize]
})

const program = Effect.gen(function*() {
  const { address } = yield* Transport.Acceptor
  const session = yield* ArcpClient.connect(address, { credentials: { scheme: "bearer", token: "s3cret" } })

  const job = yield* session.invoke("resize", { images: 3 })
  yield* Console.log(`accepted ${job.jobId}`)
  yield* Stream.runForEach(job.events, (event) =>
    event.type === "job.progress"
      ? Console.log(`progress ${event.payload.current}/${event.payload.total} ${event.payload.message}`)
      : Console.log(`event ${event.type}`))
  yield* Console.log(`result ${JSON.stringify(yield* job.outcome)}`)

  const refused = yield* Effect.flip(session.invoke("resize", { images: "many" }))
  yield* Console.log(`bad arguments: ${"code" in refused ? refused.code : refused._tag}`)
})

Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(Runtime), Logger.withMinimumLogLevel(LogLevel.Warning)))
