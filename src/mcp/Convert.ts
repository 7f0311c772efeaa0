/**
 * Between MCP and ARCP values: MCP errors to canonical codes (§18), MCP
 * content blocks to a tool result, MCP progress to `job.progress`.
 */
import { ErrorCode, McpError } from "@modelcontextprotocol/sdk/types.js"
import { ArcpError, type CanonicalCode } from "../protocol/Errors.js"

const codes: ReadonlyMap<number, CanonicalCode> = new Map([
  [ErrorCode.InvalidParams, "INVALID_ARGUMENT"],
  [ErrorCode.InvalidRequest, "INVALID_ARGUMENT"],
  [ErrorCode.MethodNotFound, "NOT_FOUND"],
  [ErrorCode.RequestTimeout, "DEADLINE_EXCEEDED"],
  [ErrorCode.ConnectionClosed, "UNAVAILABLE"],
  [ErrorCode.UrlElicitationRequired, "FAILED_PRECONDITION"],
  [ErrorCode.ParseError, "INTERNAL"],
  [ErrorCode.InternalError, "INTERNAL"]
])

/**
 * An MCP failure as an ArcpError: JSON-RPC codes map to their canonical
 * counterpart (unknown ones INTERNAL); anything else (the transport is gone,
 * "Not connected") is UNAVAILABLE, which a client may retry.
 */
export const fromMcpFailure = (server: string, e: unknown): ArcpError => {
  if (e instanceof McpError) {
    return ArcpError.of(codes.get(e.code) ?? "INTERNAL", `MCP server "${server}": ${e.message}`, {
      details: { mcp_code: e.code }
    })
  }
  return ArcpError.of("UNAVAILABLE", `MCP server "${server}": ${e instanceof Error ? e.message : String(e)}`)
}

/** The MCP result of `tools/call`, as far as the bridge reads it. */
export interface McpCallResult {
  readonly content?: ReadonlyArray<Record<string, unknown>> | undefined
  readonly structuredContent?: Record<string, unknown> | undefined
  readonly isError?: boolean | undefined
}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

/** Reads a `tools/call` answer (a current result, or the legacy `toolResult` form, taken as structured content). */
export const readCallResult = (raw: Readonly<Record<string, unknown>>): McpCallResult => {
  const content = Array.isArray(raw["content"]) ? raw["content"].filter(isRecord) : []
  const structured = isRecord(raw["structuredContent"])
    ? raw["structuredContent"]
    : "toolResult" in raw
    ? { toolResult: raw["toolResult"] }
    : undefined
  return { content, structuredContent: structured, isError: raw["isError"] === true }
}

const textOf = (content: ReadonlyArray<Record<string, unknown>>): string =>
  content.flatMap((block) => block["type"] === "text" && typeof block["text"] === "string" ? [block["text"]] : [])
    .join("\n")

/**
 * The ARCP result of a successful call: `content` (the MCP blocks as they came:
 * text inline, images/audio/blobs base64 inline), `text` (the text blocks
 * joined), and `structured` (structuredContent) when the server gave it.
 */
export const toResult = (result: McpCallResult): Record<string, unknown> => {
  const content = result.content ?? []
  return {
    content,
    text: textOf(content),
    ...(result.structuredContent !== undefined ? { structured: result.structuredContent } : {})
  }
}

/** A tool-level failure (`isError: true`): UNKNOWN (the tool said it failed, not why), with its content. */
export const toolError = (server: string, tool: string, result: McpCallResult): ArcpError => {
  const text = textOf(result.content ?? [])
  return ArcpError.of("UNKNOWN", `${server}.${tool} failed${text === "" ? "" : `: ${text}`}`, {
    details: { mcp_content: result.content ?? [] }
  })
}

/** An MCP progress notification as `job.progress` fields. */
export const toProgress = (
  p: { readonly progress: number; readonly total?: number | undefined; readonly message?: string | undefined }
) => ({
  current: Math.max(0, p.progress),
  ...(p.total !== undefined ? { total: p.total } : {}),
  ...(p.total !== undefined && p.total > 0
    ? { percent: Math.max(0, Math.min(100, Math.round((p.progress / p.total) * 100))) }
    : {}),
  ...(p.message !== undefined ? { message: p.message } : {})
})
