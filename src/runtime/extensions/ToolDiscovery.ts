/**
 * The runtime side of `arcpx.arcp.tools.v1` (docs/extensions/tools.md): answers
 * `arcpx.arcp.tools.v1.list` with the tools the asking principal may invoke.
 */
import { Effect, Option, ParseResult, Schema } from "effect"
import { make as makeEnvelope } from "../../protocol/Envelope.js"
import { ArcpError } from "../../protocol/Errors.js"
import {
  LIST_TYPE,
  LISTED_TYPE,
  ListRequest,
  type ToolDescription,
  TOOLS_EXTENSION
} from "../../protocol/extensions/ToolDiscovery.js"
import { atLeast, type TrustLevel } from "../permissions/Trust.js"
import type { Tool } from "../Tools.js"
import type { ExtensionHandler } from "./Handlers.js"

const decodeRequest = Schema.decodeUnknownEither(ListRequest)

/** How discovery describes a tool. */
export const describe = (tool: Tool): ToolDescription => ({
  name: tool.name,
  ...(tool.description !== undefined ? { description: tool.description } : {}),
  arguments_schema: tool.argumentsSchema ?? { type: "object" },
  ...(tool.resultSchema !== undefined ? { result_schema: tool.resultSchema } : {}),
  cancellable: tool.cancellable,
  liveness: tool.liveness,
  ...(tool.minimumTrust !== undefined ? { trust_level: tool.minimumTrust } : {})
})

/**
 * The discovery handler over `tools` (read on every request: registries that
 * change, such as MCP servers coming and going, are listed as they are now).
 * A tool is listed when the session may invoke it: its trust level (§15.3), or
 * the principal's live elevation lease (§15.6), reaches the tool's minimum —
 * the same rule `tool.invoke` applies.
 */
export const handler = (
  tools: () => ReadonlyArray<Tool>,
  elevation: (principal: string) => Effect.Effect<Option.Option<{ readonly level: TrustLevel }>>
): ExtensionHandler => ({
  extension: TOOLS_EXTENSION,
  handle: Effect.fnUntraced(function*(message, { outbound, owner, session }) {
    if (message.type !== LIST_TYPE) {
      return yield* ArcpError.of(
        "UNIMPLEMENTED",
        `"${message.type}" is not a message of ${TOOLS_EXTENSION} (it defines ${LIST_TYPE})`
      )
    }
    const request = decodeRequest(message.payload)
    if (request._tag === "Left") {
      return yield* ArcpError.of(
        "INVALID_ARGUMENT",
        `${LIST_TYPE} payload: ${ParseResult.TreeFormatter.formatErrorSync(request.left)}`
      )
    }
    const prefix = request.right.prefix ?? ""
    const elevated = yield* elevation(owner.principal)
    const may = (tool: Tool) =>
      tool.minimumTrust === undefined || atLeast(owner.trustLevel, tool.minimumTrust) ||
      (Option.isSome(elevated) && atLeast(elevated.value.level, tool.minimumTrust))
    const listed = tools().filter((t) => t.name.startsWith(prefix) && may(t)).map(describe)
    const envelope = yield* makeEnvelope(LISTED_TYPE, { tools: listed }, {
      session_id: session.id,
      correlation_id: message.id
    })
    yield* outbound.send(envelope)
  })
})
