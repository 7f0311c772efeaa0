/**
 * ARCP tools as an MCP server: an MCP client (the official SDK's, as an IDE
 * would use) lists a runtime's tools and calls one; the call runs as an ARCP
 * job whose progress arrives as MCP progress notifications. `arcp mcp --url
 * ws://... --token ...` does the same over stdio for any MCP host; here the
 * host is in-process (McpHost.serve on the SDK's in-memory transport).
 * Run it with `node --import tsx examples/14-mcp-host.ts`.
 */
import { Client as McpClient } from "@modelcontextprotocol/sdk/client/index.js"
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js"
import { Auth, Client, McpHost, MemoryArtifactStore, MemoryEventLog, Runtime, Tools, Transport, WebSocket } from "arcp"
import { Console, Duration, Effect, Layer, Logger, LogLevel, Schema } from "effect"

const count = Tools.make({
  name: "count",
  description: "Counts to n, reporting progress",
  parameters: Schema.Struct({ n: Schema.Number }),
  handler: ({ n }, ctx) =>
    Effect.gen(function*() {
      for (let i = 1; i <= n; i++) {
        yield* Effect.sleep(Duration.millis(10))
        yield* ctx.progress({ current: i, total: n })
      }
      return { counted: n }
    })
})

const Server = Runtime.serve.pipe(
  Layer.provideMerge(Runtime.layer()),
  Layer.provide(Layer.mergeAll(
    Auth.layer({ audience: "arcp://runtime", bearer: new Map([["secret", "alice"]]) }),
    MemoryEventLog.layer,
    MemoryArtifactStore.layer,
    Tools.layer([count])
  )),
  Layer.provideMerge(WebSocket.layer({ port: 0 }))
)

const program = Effect.gen(function*() {
  const { address } = yield* Transport.Acceptor
  const session = yield* Client.connect(yield* WebSocket.connect(address), {
    credentials: { scheme: "bearer", token: "secret" }
  })
  const [hostSide, serverSide] = InMemoryTransport.createLinkedPair()
  yield* Effect.forkScoped(McpHost.serve(session, serverSide))
  const mcp = new McpClient({ name: "example-host", version: "1.0.0" })
  yield* Effect.promise(() => mcp.connect(hostSide))
  const { tools } = yield* Effect.promise(() => mcp.listTools())
  yield* Console.log(`mcp tools ${tools.map((t) => t.name).join(", ")}`)
  const result = yield* Effect.promise(() =>
    mcp.callTool({ name: "count", arguments: { n: 3 } }, undefined, {
      onprogress: (p) => console.log(`mcp progress ${p.progress}/${p.total}`)
    })
  )
  yield* Console.log(`mcp result ${JSON.stringify(result.structuredContent)}`)
  yield* Effect.promise(() => mcp.close())
})

Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(Server), Logger.withMinimumLogLevel(LogLevel.Warning)))
