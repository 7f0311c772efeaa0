/**
 * The Effect quickstart: a runtime with one typed tool on a WebSocket, a client that invokes it and
 * prints the job's events and result. It imports the package by name, as an application would: run it
 * with `node --import tsx examples/00-quickstart.ts` (against the sources, through tsconfig's paths)
 * or, after `npm run build`, against the built package.
 */
import { ArcpClient, Auth, MemoryArtifactStore, MemoryEventLog, Runtime, Tools, Transport, WebSocket } from "arcp"
import { Console, Effect, Layer, Logger, LogLevel, Schema, Stream } from "effect"

const greet = Tools.make({
  name: "greet",
  parameters: Schema.Struct({ name: Schema.String }),
  handler: ({ name }, ctx) =>
    Effect.gen(function*() {
      yield* ctx.progress({ percent: 50, message: "thinking" })
      return { greeting: `hello ${name}` }
    })
})

const Server = Runtime.serve.pipe(
  Layer.provideMerge(Runtime.layer({ identity: { kind: "quickstart", version: "1.0.0" } })),
  Layer.provide(Layer.mergeAll(
    Auth.layer({ audience: "arcp://runtime", bearer: new Map([["secret", "alice"]]) }),
    MemoryEventLog.layer,
    MemoryArtifactStore.layer,
    Tools.layer([greet])
  )),
  Layer.provideMerge(WebSocket.layer({ port: 0 }))
)

const program = Effect.gen(function*() {
  const { address } = yield* Transport.Acceptor
  const session = yield* ArcpClient.connect(address, { credentials: { scheme: "bearer", token: "secret" } })
  yield* Console.log(`session ${session.id} with ${session.runtime.kind} ${session.runtime.version}`)
  const job = yield* session.invoke("greet", { name: "ada" })
  yield* Stream.runForEach(job.events, (event) => Console.log(`event ${event.type}`))
  yield* Console.log(`result ${JSON.stringify(yield* job.outcome)}`)
})

Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(Server), Logger.withMinimumLogLevel(LogLevel.Warning)))
