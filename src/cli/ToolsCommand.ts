/** `arcp tools`: lists the tools a runtime lets this principal invoke (extension `arcpx.arcp.tools.v1`). */
import { Command, Options } from "@effect/cli"
import { Config, Console, Effect, Option } from "effect"
import * as Client from "../client/Client.js"
import type { ToolDescription } from "../protocol/extensions/ToolDiscovery.js"
import * as WebSocket from "../transport/WebSocket.js"
import { VERSION } from "../Version.js"
import { credentialsOf, ExitCode, setExitCode } from "./Send.js"
import * as Settings from "./Settings.js"

const options = {
  url: Settings.withEnv(Options.text("url"), Config.string("ARCP_URL")).pipe(
    Options.withDefault("ws://127.0.0.1:7777"),
    Options.withDescription("[ARCP_URL]")
  ),
  token: Settings.optionalText("token", "ARCP_TOKEN", "bearer token"),
  jwtSecret: Settings.optionalText("jwt-secret", "ARCP_JWT_SECRET", "sign a signed_jwt with this HS256 secret"),
  subject: Options.text("subject").pipe(Options.withDefault("arcp-cli"), Options.withDescription("JWT subject")),
  audience: Options.text("audience").pipe(
    Options.withDefault("arcp://runtime"),
    Options.withDescription("JWT audience when signing")
  ),
  anonymous: Options.boolean("anonymous").pipe(Options.withDescription("scheme none (capabilities.anonymous)")),
  prefix: Options.text("prefix").pipe(
    Options.optional,
    Options.withDescription("only tools whose name starts with this (e.g. an MCP server's NAME.)")
  ),
  json: Options.boolean("json").pipe(Options.withDescription("print the tool descriptions as JSON lines"))
}

/** One tool, for a person: its name and description, then its arguments' schema. */
const format = (tool: ToolDescription): string =>
  `${tool.name}${tool.description !== undefined ? `  ${tool.description}` : ""}\n  arguments: ${
    JSON.stringify(tool.arguments_schema)
  }${tool.result_schema !== undefined ? `\n  result: ${JSON.stringify(tool.result_schema)}` : ""}`

export const tools = Command.make("tools", options, (o) =>
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
      capabilities: o.anonymous ? { anonymous: true } : {},
      client: { kind: "arcp-cli", version: VERSION }
    })
    const listed = yield* session.tools(Option.isSome(o.prefix) ? { prefix: o.prefix.value } : {})
    for (const tool of listed) yield* Console.log(o.json ? JSON.stringify(tool) : format(tool))
    yield* session.close()
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
  )).pipe(Command.withDescription("List the tools the runtime lets you invoke, with their argument schemas"))
