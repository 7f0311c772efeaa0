/** MCP servers as ARCP tools over streamable HTTP: an SDK MCP server on an HTTP port of this process. */
import { assert, describe, it } from "@effect/vitest"
import { Server } from "@modelcontextprotocol/sdk/server/index.js"
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js"
import { CallToolRequestSchema, ListToolsRequestSchema } from "@modelcontextprotocol/sdk/types.js"
import { Effect, Layer, Logger, LogLevel } from "effect"
import { randomUUID } from "node:crypto"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import * as McpTools from "../../src/mcp/McpTools.js"
import * as McpSpec from "../../src/mcp/Spec.js"
import * as Auth from "../../src/runtime/auth/Auth.js"
import * as Runtime from "../../src/runtime/Runtime.js"
import * as MemoryArtifactStore from "../../src/store/MemoryArtifactStore.js"
import * as MemoryEventLog from "../../src/store/MemoryEventLog.js"
import * as Memory from "../../src/transport/Memory.js"
import { open, TOKEN } from "../support/Harness.js"

/** An MCP server with one tool `shout {text}` on http://127.0.0.1:<port>/mcp, closed with the scope. */
const httpMcpServer = Effect.acquireRelease(
  Effect.promise(async () => {
    const mcp = new Server({ name: "http-fixture", version: "1.0.0" }, { capabilities: { tools: {} } })
    mcp.setRequestHandler(ListToolsRequestSchema, async () => ({
      tools: [{ name: "shout", inputSchema: { type: "object", properties: { text: { type: "string" } } } }]
    }))
    mcp.setRequestHandler(CallToolRequestSchema, async (request) => ({
      content: [{ type: "text", text: String(request.params.arguments?.["text"]).toUpperCase() }]
    }))
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: () => randomUUID() })
    await mcp.connect(transport)
    const http = createServer((req, res) => void transport.handleRequest(req, res))
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve))
    const { port } = http.address() as AddressInfo
    return { url: `http://127.0.0.1:${port}/mcp`, http, mcp }
  }),
  ({ http, mcp }) =>
    Effect.promise(async () => {
      await mcp.close()
      http.closeAllConnections()
      await new Promise((resolve) => http.close(resolve))
    })
)

describe("MCP over streamable HTTP", () => {
  it.scopedLive(
    "R20-1 --mcp NAME=http://... offers the HTTP server's tools as NAME.tool jobs",
    () =>
      Effect.gen(function*() {
        const { url } = yield* httpMcpServer
        const spec = McpSpec.parse(`web=${url}`)
        assert.strictEqual(spec._tag, "Right")
        if (spec._tag !== "Right") return
        const server = Runtime.serve.pipe(
          Layer.provideMerge(Runtime.layer({})),
          Layer.provide(Layer.mergeAll(
            Auth.layer({ audience: "arcp://runtime", bearer: new Map([[TOKEN, "alice"]]) }),
            MemoryArtifactStore.layer,
            MemoryArtifactStore.layer,
            McpTools.registry({ servers: [spec.right] })
          )),
          Layer.provideMerge(MemoryEventLog.layer),
          Layer.provideMerge(Memory.layer()),
          Layer.provide(Logger.minimumLogLevel(LogLevel.None))
        )
        yield* Effect.gen(function*() {
          const session = yield* open()
          assert.deepStrictEqual((yield* session.tools()).map((t) => t.name), ["web.shout"])
          const job = yield* session.invoke("web.shout", { text: "hi" })
          assert.strictEqual(Reflect.get(Object(yield* job.outcome), "text"), "HI")
        }).pipe(Effect.provide(server))
      }),
    30_000
  )

  it("R20-1 --mcp specs: stdio command lines (quotes kept together), URLs, and clear refusals", () => {
    const stdio = McpSpec.parse(`fs=npx -y server "/tmp/my dir"`)
    assert.deepStrictEqual(stdio._tag === "Right" ? stdio.right : undefined, {
      _tag: "Stdio",
      name: "fs",
      command: "npx",
      args: ["-y", "server", "/tmp/my dir"]
    })
    assert.strictEqual(McpSpec.parse("web=https://example.com/mcp")._tag, "Right")
    for (const bad of ["nothing", "=cmd", "bad name=cmd", "x="]) {
      const parsed = McpSpec.parse(bad)
      assert.strictEqual(parsed._tag, "Left", bad)
      if (parsed._tag === "Left") assert.include(parsed.left, "--mcp expects NAME=COMMAND")
    }
  })
})
