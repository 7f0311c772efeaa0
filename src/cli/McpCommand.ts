/**
 * `arcp mcp`: an MCP server on stdio whose tools are an ARCP runtime's tools
 * (issue 18). Point an MCP host at `arcp mcp --url ws://... --token ...`.
 * stdout carries MCP frames only; logs go to stderr.
 */
import { Command, Options } from "@effect/cli"
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js"
import { Config, Console, Effect } from "effect"
import * as Client from "../client/Client.js"
import * as McpHost from "../mcp/McpHost.js"
import * as WebSocket from "../transport/WebSocket.js"
import { VERSION } from "../Version.js"
import { credentialsOf, ExitCode, setExitCode } from "./Send.js"
import * as Settings from "./Settings.js"

const options = {
  url: Settings.withEnv(Options.text("url"), Config.string("ARCP_URL")).pipe(
    Options.withDefault("ws://127.0.0.1:7777"),
    Options.withDescription("the ARCP runtime [ARCP_URL]")
  ),
  token: Settings.optionalText("token", "ARCP_TOKEN", "bearer token"),
  jwtSecret: Settings.optionalText("jwt-secret", "ARCP_JWT_SECRET", "sign a signed_jwt with this HS256 secret"),
  subject: Options.text("subject").pipe(Options.withDefault("arcp-mcp"), Options.withDescription("JWT subject")),
  audience: Options.text("audience").pipe(
    Options.withDefault("arcp://runtime"),
    Options.withDescription("JWT audience when signing")
  ),
  anonymous: Options.boolean("anonymous").pipe(Options.withDescription("scheme none (capabilities.anonymous)"))
}

export const mcp = Command.make("mcp", options, (o) =>
  Effect.gen(function*() {
    const credentials = credentialsOf(o)
    if (credentials === undefined) {
      return yield* Console.error(
        "arcp: no credentials: pass --token or set ARCP_TOKEN (or --jwt-secret to sign a JWT, or --anonymous where the runtime allows it)"
      ).pipe(Effect.zipRight(new ExitCode({ code: 2 })))
    }
    const connection = yield* WebSocket.connect(o.url)
    const session = yield* Client.connect(connection, {
      credentials,
      capabilities: o.anonymous ? { anonymous: true, human_input: true } : { human_input: true },
      client: { kind: "arcp-mcp", version: VERSION }
    })
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
      ArcpError: (e) =>
        Console.error(`error ${e.code}: ${e.message}`).pipe(Effect.zipRight(Effect.fail(new ExitCode({ code: 1 })))),
      ClientError: (e) =>
        Console.error(`error ${e.reason}: ${e.message}`).pipe(Effect.zipRight(Effect.fail(new ExitCode({ code: 1 })))),
      TransportError: (e) =>
        Console.error(`cannot connect: ${e.message}`).pipe(Effect.zipRight(Effect.fail(new ExitCode({ code: 1 }))))
    }),
    Effect.catchTag("ExitCode", setExitCode)
  )).pipe(Command.withDescription("Serve the runtime's tools as an MCP server on stdio (for MCP hosts)"))
