/**
 * `arcp tools` and `arcp mcp` dial every URL scheme the client does (ws, unix, h2c), and
 * `arcp serve --mcp NAME=http://...` wraps a streamable-HTTP MCP server: real processes.
 */
import { assert, describe, it } from "@effect/vitest"
import { Client as McpClient } from "@modelcontextprotocol/sdk/client/index.js"
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js"
import { Server } from "@modelcontextprotocol/sdk/server/index.js"
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js"
import { CallToolRequestSchema, ListToolsRequestSchema } from "@modelcontextprotocol/sdk/types.js"
import { randomUUID } from "node:crypto"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { join } from "node:path"
import { bin, root, runArcp, serveAddresses, stopChild } from "../support/Child.js"
import { socketPath } from "../support/Sockets.js"

const fixture = join(root, "test", "fixtures", "mcp", "server.mjs")

const run = runArcp

const serve = serveAddresses

const stop = stopChild

/** An SDK MCP server with one tool `shout {text}` over streamable HTTP on a port of this process. */
const httpMcpServer = async () => {
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
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    close: async () => {
      await mcp.close()
      http.closeAllConnections()
      await new Promise((resolve) => http.close(resolve))
    }
  }
}

describe("arcp tools and arcp mcp over every transport", () => {
  it(
    "R20-1 arcp tools lists over ws, unix and h2c; arcp mcp serves over unix; --mcp NAME=http://... wraps an HTTP MCP server",
    async () => {
      const web = await httpMcpServer()
      const { addresses, child } = await serve([
        "--transport",
        "ws,unix,http2",
        "--socket",
        socketPath(),
        "--port",
        "0",
        "--http2-port",
        "0",
        "--bearer",
        "tok=alice",
        "--mcp",
        `fix=node ${fixture}`,
        "--mcp",
        `web=${web.url}`
      ])
      const mcp = new McpClient({ name: "test-host", version: "1.0.0" })
      try {
        assert.deepStrictEqual(addresses.map((a) => a.split(":")[0]), ["ws", "unix", "http"])
        for (const url of addresses) {
          const listed = await run(["tools", "--url", url, "--token", "tok", "--json"])
          assert.strictEqual(listed.code, 0, `${url}: ${listed.stderr}`)
          const names = listed.stdout.trim().split("\n").map((line) => JSON.parse(line).name)
          assert.includeMembers(names, ["ticker", "fix.fast", "fix.resources.read", "web.shout"], url)
        }

        const unix = addresses.find((a) => a.startsWith("unix:")) ?? ""
        await mcp.connect(
          new StdioClientTransport({ command: "node", args: [bin, "mcp", "--url", unix, "--token", "tok"], cwd: root })
        )
        const shout = await mcp.callTool({ name: "web.shout", arguments: { text: "over unix" } })
        assert.strictEqual(Reflect.get(Object(shout.structuredContent), "text"), "OVER UNIX")
        const ticker = await mcp.callTool({ name: "ticker", arguments: { count: 2 } })
        assert.deepStrictEqual(ticker.structuredContent, { count: 2 })
      } finally {
        await mcp.close()
        await stop(child)
        await web.close()
      }
    },
    90_000
  )

  it("a runtime that is not there, or a scheme no client dials, is one sentence and exit 1", async () => {
    const refused = await run(["tools", "--url", "ws://127.0.0.1:1", "--token", "tok"])
    assert.strictEqual(refused.code, 1)
    assert.strictEqual(
      refused.stderr.trim(),
      "arcp: connection refused at ws://127.0.0.1:1: is `arcp serve` running there? (set the address with --url or ARCP_URL)"
    )
    const scheme = await run(["mcp", "--url", "ftp://127.0.0.1", "--token", "tok"])
    assert.strictEqual(scheme.code, 1)
    assert.match(
      scheme.stderr.trim(),
      /^arcp: cannot connect to ftp:\/\/127\.0\.0\.1: .*use a ws:\/\/, wss:\/\/, unix:\/\//
    )
    assert.notInclude(scheme.stderr, "    at ")
  }, 60_000)
})
