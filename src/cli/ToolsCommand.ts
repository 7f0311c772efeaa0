/** `arcp tools`: lists the tools a runtime lets this principal invoke (extension `arcpx.arcp.tools.v1`). */
import { Command, Options } from "@effect/cli"
import { Console, Effect, Option } from "effect"
import type { ToolDescription } from "../protocol/extensions/ToolDiscovery.js"
import * as Connect from "./Connect.js"
import { setExitCode } from "./Failure.js"

const options = {
  ...Connect.options("arcp-cli"),
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
    const session = yield* Connect.open(o, { kind: "arcp-cli" })
    const listed = yield* session.tools(Option.isSome(o.prefix) ? { prefix: o.prefix.value } : {})
    for (const tool of listed) yield* Console.log(o.json ? JSON.stringify(tool) : format(tool))
    yield* session.close()
  }).pipe(
    Effect.scoped,
    Effect.catchTags({
      ArcpError: (e) => Connect.failWith(`error ${e.code}: ${e.message}`),
      ClientError: (e) => Connect.failWith(`error ${e.reason}: ${e.message}`),
      TransportError: (e) => Connect.failWith(`arcp: ${Connect.cannotConnect(o.url, e)}`)
    }),
    Effect.catchTag("ExitCode", setExitCode)
  )).pipe(Command.withDescription("List the tools the runtime lets you invoke, with their argument schemas"))
