/**
 * MCP servers as ARCP tools: a runtime wraps the stdio MCP server
 * examples/mcp/hello-server.mjs (the same as `arcp serve --mcp hello=node examples/mcp/hello-server.mjs`);
 * a client discovers its tool `hello.say` and runs it as an ARCP job, then reads the MCP resource
 * hello://motd through `hello.resources.read`: its contents come back as an artifact (§20).
 * Run it with `node --import tsx examples/14-mcp-tools.ts`.
 */
import { Auth, Client, McpTools, MemoryArtifactStore, MemoryEventLog, Runtime, Transport, WebSocket } from "arcp"
import { Console, Effect, Layer, Logger, LogLevel, Stream } from "effect"
import { join } from "node:path"

const hello = join(import.meta.dirname, "mcp", "hello-server.mjs")

const Server = Runtime.serve.pipe(
  Layer.provideMerge(Runtime.layer()),
  Layer.provide(Layer.mergeAll(
    Auth.layer({ audience: "arcp://runtime", bearer: new Map([["secret", "alice"]]) }),
    MemoryEventLog.layer,
    MemoryArtifactStore.layer,
    // the MCP server is started with the runtime, supervised, and stopped with it
    McpTools.registry({ servers: [{ _tag: "Stdio", name: "hello", command: process.execPath, args: [hello] }] })
  )),
  Layer.provideMerge(WebSocket.layer({ port: 0 }))
)

const program = Effect.gen(function*() {
  const { address } = yield* Transport.Acceptor
  const session = yield* Client.connect(yield* WebSocket.connect(address), {
    credentials: { scheme: "bearer", token: "secret" }
  })
  for (const tool of yield* session.tools()) {
    yield* Console.log(`tool ${tool.name}: ${tool.description ?? ""} ${JSON.stringify(tool.arguments_schema)}`)
  }
  const job = yield* session.invoke("hello.say", { name: "ada" })
  yield* Stream.runForEach(job.events, (event) => Console.log(`event ${event.type}`))
  const result = yield* job.outcome
  yield* Console.log(`result ${JSON.stringify(Reflect.get(Object(result), "text"))}`)

  const read = yield* Effect.flatMap(session.invoke("hello.resources.read", { uri: "hello://motd" }), (j) => j.outcome)
  const [motd] = Reflect.get(Object(read), "contents")
  const bytes = yield* Stream.runCollect(session.fetchArtifact(motd.artifact))
  yield* Console.log(`resource ${motd.uri} as artifact: ${Buffer.concat([...bytes]).toString()}`)
})

Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(Server), Logger.withMinimumLogLevel(LogLevel.Warning)))
