/**
 * The tool discovery extension `arcpx.arcp.tools.v1` (§21; spec in
 * docs/extensions/tools.md): a client asks which tools it may invoke, the
 * runtime answers with each tool's name, description and JSON Schemas.
 */
import { Schema } from "effect"

/** The extension's name, listed in `capabilities.extensions` by both sides to use it. */
export const TOOLS_EXTENSION = "arcpx.arcp.tools.v1"
/** The request: the client asks for the tools it may invoke. */
export const LIST_TYPE = `${TOOLS_EXTENSION}.list`
/** The answer, correlated to the request. */
export const LISTED_TYPE = `${TOOLS_EXTENSION}.listed`

/** A JSON Schema document (kept as plain JSON). */
export const JsonSchema = Schema.Record({ key: Schema.String, value: Schema.Unknown })
export type JsonSchema = typeof JsonSchema.Type

/** `arcpx.arcp.tools.v1.list`: an optional name prefix narrows the answer (`"files."` lists one MCP server's tools). */
export const ListRequest = Schema.Struct({
  prefix: Schema.optional(Schema.String.pipe(Schema.maxLength(256)))
})
export type ListRequest = typeof ListRequest.Type

/** One tool as discovery describes it. */
export const ToolDescription = Schema.Struct({
  name: Schema.String,
  description: Schema.optional(Schema.String),
  /** JSON Schema of `tool.invoke`'s `arguments`. */
  arguments_schema: JsonSchema,
  /** JSON Schema of `tool.result`'s `value`, when the tool declares one. */
  result_schema: Schema.optional(JsonSchema),
  /** False when `cancel` is refused (not_cancellable). */
  cancellable: Schema.Boolean,
  /** "runtime": the runtime heartbeats for it; "reported": the tool reports its own liveness (§10.3). */
  liveness: Schema.Literal("runtime", "reported"),
  /** The least trust level a session needs to invoke the tool (§15.3); absent: any session. */
  trust_level: Schema.optional(Schema.String),
  /** Permissions (§15) the tool may ask for while it runs. */
  permissions: Schema.optional(Schema.Array(Schema.String))
})
export type ToolDescription = typeof ToolDescription.Type

/** `arcpx.arcp.tools.v1.listed`. */
export const ListedPayload = Schema.Struct({ tools: Schema.Array(ToolDescription) })
export type ListedPayload = typeof ListedPayload.Type
