#!/usr/bin/env node
// A one-tool MCP server (official SDK, stdio) for examples/14-mcp-tools.ts: `say {name}` greets,
// and one resource, hello://motd (text).
import { Server } from "@modelcontextprotocol/sdk/server/index.js"
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js"
import {
  CallToolRequestSchema,
  ListResourcesRequestSchema,
  ListToolsRequestSchema,
  ReadResourceRequestSchema
} from "@modelcontextprotocol/sdk/types.js"

const server = new Server({ name: "hello", version: "1.0.0" }, { capabilities: { tools: {}, resources: {} } })
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
server.setRequestHandler(ListResourcesRequestSchema, async () => ({
  resources: [{ uri: "hello://motd", name: "motd", mimeType: "text/plain" }]
}))
server.setRequestHandler(ReadResourceRequestSchema, async (request) => ({
  contents: [{ uri: request.params.uri, mimeType: "text/plain", text: "keep your MCP tools, gain jobs" }]
}))
await server.connect(new StdioServerTransport())
