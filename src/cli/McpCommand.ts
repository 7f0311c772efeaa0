/**
 * `arcp mcp`: an MCP server on stdio whose tools are an ARCP runtime's tools
 * (issue 18). Point an MCP host at `arcp mcp --url ws://... --token ...`.
 * stdout carries MCP frames only; logs go to stderr.
 */
import { Command } from "@effect/cli"
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js"
import { Effect } from "effect"
import * as McpHost from "../mcp/McpHost.js"
import * as Connect from "./Connect.js"
import { setExitCode } from "./Failure.js"

const options = {
  ...Connect.options("arcp-mcp")
}

export const mcp = Command.make("mcp", options, (o) =>
  Effect.gen(function*() {
    const session = yield* Connect.open(o, { kind: "arcp-mcp", capabilities: { human_input: true } })
    // the SDK's stdio transport does not notice the host closing our stdin: that ends the server too
    const stdinEnded = Effect.async<void>((resume) => {
      const done = () => resume(Effect.void)
      process.stdin.once("end", done)
      process.stdin.once("close", done)
    })
    yield* Effect.raceFirst(McpHost.serve(session, new StdioServerTransport()), stdinEnded)
    yield* session.close({ dispose_jobs: "cancel" })
  }).pipe(
    Effect.scoped,
    Effect.catchTags({
      ArcpError: (e) => Connect.failWith(`error ${e.code}: ${e.message}`),
      ClientError: (e) => Connect.failWith(`error ${e.reason}: ${e.message}`),
      TransportError: (e) => Connect.failWith(`arcp: ${Connect.cannotConnect(o.url, e)}`)
    }),
    Effect.catchTag("ExitCode", setExitCode)
  )).pipe(Command.withDescription("Serve the runtime's tools as an MCP server on stdio (for MCP hosts)"))
