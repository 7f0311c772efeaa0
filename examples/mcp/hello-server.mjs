#!/usr/bin/env node
// A one-tool MCP server (official SDK, stdio) for examples/mcp-tools.ts: `say {name}` greets.
import { Server } from "@modelcontextprotocol/sdk/server/index.js"
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js"
import { CallToolRequestSchema, ListToolsRequestSchema } from "@modelcontextprotocol/sdk/types.js"

const server = new Server({ name: "hello", version: "1.0.0" }, { capabilities: { tools: {} } })
server.setRequestHandler(ListToolsRequestSchema, async () => ({
  tools: [{
    name: "say",
    description: "Greets someone",
    inputSchema: { type: "object", properties: { name: { type: "string" } }, required: ["name"] }
  }]
}))
server.setRequestHandler(CallToolRequestSchema, async (request) => ({
  content: [{ type: "text", text: `hello ${request.params.arguments?.name}` }]
}))
await server.connect(new StdioServerTransport())
