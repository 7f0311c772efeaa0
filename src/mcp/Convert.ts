/**
 * Between MCP and ARCP values: MCP errors to canonical codes (§18), MCP
 * content blocks to a tool result, MCP progress to `job.progress`.
 */
import { ErrorCode, McpError } from "@modelcontextprotocol/sdk/types.js"
import { Effect, Either } from "effect"
import * as Base64 from "../internal/Base64.js"
import { ArcpError, type CanonicalCode } from "../protocol/Errors.js"
import type { ArtifactRef } from "../protocol/messages/Artifacts.js"

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

/** Stores bytes as an artifact of the job (`ToolContext.putArtifact`). */
export type PutArtifact = (bytes: Uint8Array, mediaType: string) => Effect.Effect<ArtifactRef, ArcpError>

const OCTETS = "application/octet-stream"

/** Base64 from the MCP server as bytes; a server sending something else is at fault (INTERNAL). */
const bytesOf = (server: string, base64: unknown): Either.Either<Uint8Array, ArcpError> =>
  Either.mapLeft(
    Base64.decode(typeof base64 === "string" ? base64 : ""),
    () => ArcpError.of("INTERNAL", `MCP server "${server}" sent binary content that is not base64`)
  )

const withoutKey = (record: Readonly<Record<string, unknown>>, key: string): Record<string, unknown> =>
  Object.fromEntries(Object.entries(record).filter(([k]) => k !== key))

/**
 * One content block with its bytes moved to an artifact (§16): an image or audio block's
 * `data`, an embedded resource's `blob`, become `artifact` (the ref); text stays inline.
 */
const storeBlock = Effect.fnUntraced(function*(server: string, block: Record<string, unknown>, put: PutArtifact) {
  if ((block["type"] === "image" || block["type"] === "audio") && "data" in block) {
    const bytes = yield* bytesOf(server, block["data"])
    const mediaType = typeof block["mimeType"] === "string" ? block["mimeType"] : OCTETS
    return { ...withoutKey(block, "data"), artifact: yield* put(bytes, mediaType) }
  }
  const resource = block["resource"]
  if (block["type"] === "resource" && isRecord(resource) && "blob" in resource) {
    return { ...block, resource: yield* storeResourceContents(server, resource, put, false) }
  }
  return block
})

/**
 * One MCP resource contents item (`{uri, mimeType?, text | blob}`) with its bytes in an
 * artifact: always a blob; a text too when `text` is true (a resource read, §20).
 */
export const storeResourceContents = Effect.fnUntraced(function*(
  server: string,
  contents: Readonly<Record<string, unknown>>,
  put: PutArtifact,
  text: boolean
) {
  const declared = typeof contents["mimeType"] === "string" ? contents["mimeType"] : undefined
  if ("blob" in contents) {
    const bytes = yield* bytesOf(server, contents["blob"])
    return { ...withoutKey(contents, "blob"), artifact: yield* put(bytes, declared ?? OCTETS) }
  }
  if (text && typeof contents["text"] === "string") {
    const bytes = new TextEncoder().encode(contents["text"])
    return { ...withoutKey(contents, "text"), artifact: yield* put(bytes, declared ?? "text/plain; charset=utf-8") }
  }
  return { ...contents }
})

/**
 * The ARCP result of a successful call: `content` (the MCP blocks, text inline, the bytes of
 * images, audio and embedded blobs stored as artifacts and replaced by their ref in
 * `artifact`), `text` (the text blocks joined), and `structured` (structuredContent) when given.
 */
export const toResult = Effect.fnUntraced(function*(
  server: string,
  result: McpCallResult,
  put: PutArtifact
) {
  const raw = result.content ?? []
  const content = yield* Effect.forEach(raw, (block) => storeBlock(server, block, put))
  return {
    content,
    text: textOf(raw),
    ...(result.structuredContent !== undefined ? { structured: result.structuredContent } : {})
  }
})

/** A block for an error's details: binary data left out (its size said instead), so details stay small. */
const summarize = (block: Record<string, unknown>): Record<string, unknown> =>
  typeof block["data"] === "string"
    ? { ...withoutKey(block, "data"), omitted_base64_chars: block["data"].length }
    : block

/** A tool-level failure (`isError: true`): UNKNOWN (the tool said it failed, not why), with its content. */
export const toolError = (server: string, tool: string, result: McpCallResult): ArcpError => {
  const text = textOf(result.content ?? [])
  return ArcpError.of("UNKNOWN", `${server}.${tool} failed${text === "" ? "" : `: ${text}`}`, {
    details: { mcp_content: (result.content ?? []).map(summarize) }
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
