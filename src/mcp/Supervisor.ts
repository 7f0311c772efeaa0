/**
 * Keeps one MCP server connected for the life of the runtime (issue 18): it is
 * started with the runtime, its tools are listed on every (re)connect, its
 * stderr goes to the runtime's log, and when it dies it is restarted with
 * exponential backoff. While it is down, `current` is None.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js"
import {
  ProgressNotificationSchema,
  ResourceUpdatedNotificationSchema,
  type ServerCapabilities,
  type Tool as McpTool,
  ToolListChangedNotificationSchema
} from "@modelcontextprotocol/sdk/types.js"
import { Cause, Deferred, Duration, Effect, Option, Runtime } from "effect"
import { VERSION } from "../Version.js"
import type { McpServerSpec } from "./Spec.js"

/** A live connection and the tools it listed. */
export interface Link {
  readonly client: Client
  readonly tools: ReadonlyMap<string, McpTool>
  /**
   * Routes progress notifications carrying `token` to `onProgress` until the returned
   * function is called. Ours rather than the SDK's `onprogress`, which is dropped when it
   * arrives just before the answer (the SDK handles notifications a microtask later).
   */
  readonly progress: (token: string, onProgress: (p: Progress) => void) => () => void
  /** What the server said it can do at initialization (resources, subscribe, ...). */
  readonly capabilities: ServerCapabilities
  /** Routes `notifications/resources/updated` for `uri` to `onUpdated` until the returned function is called. */
  readonly resourceUpdates: (uri: string, onUpdated: () => void) => () => void
  /** Completes when this connection has ended (the server stopped or is being restarted). */
  readonly closed: Effect.Effect<void>
}

export type Progress = {
  readonly progress: number
  readonly total?: number | undefined
  readonly message?: string | undefined
}

export interface Supervised {
  readonly spec: McpServerSpec
  /** The live connection, or None while the server is down (between restarts). */
  readonly current: () => Option.Option<Link>
  /** The tools of the last successful listing (kept while the server is down, so they stay discoverable). */
  readonly lastTools: () => ReadonlyMap<string, McpTool>
  /** The capabilities of the last successful start (kept while the server is down, like `lastTools`). */
  readonly lastCapabilities: () => ServerCapabilities
}

export interface SupervisorOptions {
  /** First restart delay; doubled per failed attempt (default 250 ms). */
  readonly initialBackoff?: Duration.DurationInput | undefined
  /** Longest restart delay (default 30 s). */
  readonly maxBackoff?: Duration.DurationInput | undefined
  /** How long startup waits for the first connection before serving without it (default 15 s). */
  readonly startupTimeout?: Duration.DurationInput | undefined
}

/** Longest stderr line copied into the log (the rest is cut: a chatty server cannot flood it). */
const MAX_LOG_LINE = 4096

/** Most `tools/list` pages read per listing (a server paging forever cannot hold the start up). */
const MAX_TOOL_PAGES = 100

/** All pages of `tools/list`. */
const listAllTools = Effect.fnUntraced(function*(client: Client) {
  const tools: Array<McpTool> = []
  let cursor: string | undefined
  for (let page = 0; page < MAX_TOOL_PAGES; page++) {
    const listed = yield* Effect.tryPromise(() => client.listTools(cursor === undefined ? {} : { cursor }))
    tools.push(...listed.tools)
    cursor = listed.nextCursor
    if (cursor === undefined) break
  }
  return new Map(tools.map((t) => [t.name, t]))
})

const transportOf = (spec: McpServerSpec): Transport =>
  spec._tag === "Http"
    ? new StreamableHTTPClientTransport(new URL(spec.url))
    : new StdioClientTransport({
      command: spec.command,
      args: [...spec.args],
      ...(spec.env !== undefined ? { env: { ...spec.env } } : {}),
      ...(spec.cwd !== undefined ? { cwd: spec.cwd } : {}),
      stderr: "pipe"
    })

/** Copies the child's stderr into the runtime's log, one entry per line. */
const pipeStderr = (transport: Transport, log: (line: string) => void) => {
  if (!(transport instanceof StdioClientTransport)) return
  let partial = ""
  transport.stderr?.on("data", (chunk: Buffer) => {
    const lines = (partial + chunk.toString()).split("\n")
    partial = (lines.pop() ?? "").slice(0, MAX_LOG_LINE)
    for (const line of lines) if (line.trim() !== "") log(line.slice(0, MAX_LOG_LINE))
  })
}

/** One line saying why a start failed. */
const reason = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause)
  const inner = error instanceof Error && error.cause instanceof Error ? error.cause : error
  return inner instanceof Error ? inner.message : String(inner)
}

/** Starts supervising `spec` in the current scope; returns once the first attempt ended (or timed out). */
export const supervise = Effect.fnUntraced(function*(
  spec: McpServerSpec,
  options: SupervisorOptions = {}
) {
  const runtime = yield* Effect.runtime<never>()
  const runLog = Runtime.runFork(runtime)
  let link = Option.none<Link>()
  let lastTools: ReadonlyMap<string, McpTool> = new Map()
  let lastCapabilities: ServerCapabilities = {}
  const firstAttempt = yield* Deferred.make<void>()
  const initial = Duration.decode(options.initialBackoff ?? "250 millis")
  const max = Duration.decode(options.maxBackoff ?? "30 seconds")

  /** One life of the server: connect, list, wait for the end; fails when it cannot start. */
  const once = Effect.gen(function*() {
    const transport = transportOf(spec)
    pipeStderr(transport, (line) => runLog(Effect.logInfo(`[mcp ${spec.name}] ${line}`)))
    const closed = yield* Deferred.make<void>()
    const client = new Client({ name: "arcp", version: VERSION }, { capabilities: {} })
    client.onclose = () => runLog(Deferred.succeed(closed, undefined))
    client.onerror = (e) => runLog(Effect.logDebug(`mcp ${spec.name}: ${e.message}`))
    const routes = new Map<string, (p: Progress) => void>()
    client.setNotificationHandler(ProgressNotificationSchema, (n) => {
      routes.get(String(n.params.progressToken))?.(n.params)
    })
    const progress = (token: string, onProgress: (p: Progress) => void) => {
      routes.set(token, onProgress)
      return () => {
        routes.delete(token)
      }
    }
    const watchers = new Map<string, Set<() => void>>()
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
      for (const onUpdated of watchers.get(n.params.uri) ?? []) onUpdated()
    })
    const resourceUpdates = (uri: string, onUpdated: () => void) => {
      const set = watchers.get(uri) ?? new Set()
      watchers.set(uri, set.add(onUpdated))
      return () => {
        set.delete(onUpdated)
        if (set.size === 0) watchers.delete(uri)
      }
    }
    yield* Effect.acquireRelease(
      Effect.tryPromise(() => client.connect(transport)),
      () => Effect.promise(() => client.close().catch(() => undefined))
    )
    lastCapabilities = client.getServerCapabilities() ?? {}
    const capabilities = lastCapabilities
    const relist = Effect.gen(function*() {
      const tools = yield* listAllTools(client)
      if (yield* Deferred.isDone(closed)) return
      lastTools = tools
      link = Option.some({
        client,
        tools: lastTools,
        progress,
        capabilities,
        resourceUpdates,
        closed: Deferred.await(closed)
      })
    })
    yield* relist
    // a server whose tools change says so: they are listed again
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      runLog(relist.pipe(
        Effect.catchAll((e) => Effect.logWarning(`mcp ${spec.name}: cannot list the changed tools (${String(e)})`))
      ))
    })
    yield* Effect.logInfo(`mcp ${spec.name}: connected, ${lastTools.size} tool(s)`)
    yield* Deferred.succeed(firstAttempt, undefined)
    yield* Deferred.await(closed)
  }).pipe(
    Effect.scoped,
    Effect.ensuring(Effect.sync(() => {
      link = Option.none()
    }))
  )

  yield* Effect.gen(function*() {
    let failures = 0
    while (true) {
      const exit = yield* Effect.exit(once)
      yield* Deferred.succeed(firstAttempt, undefined)
      failures = exit._tag === "Success" ? 0 : failures + 1
      const delay = Duration.min(Duration.times(initial, 2 ** Math.min(failures, 16)), max)
      const why = exit._tag === "Success" ? "the server stopped" : `cannot start the server (${reason(exit.cause)})`
      yield* Effect.logWarning(`mcp ${spec.name}: ${why}; restarting in ${Duration.format(delay)}`)
      yield* Effect.sleep(delay)
    }
  }).pipe(Effect.annotateLogs({ mcp: spec.name }), Effect.forkScoped)

  yield* Deferred.await(firstAttempt).pipe(
    Effect.timeoutTo({
      duration: options.startupTimeout ?? "15 seconds",
      onSuccess: () => Effect.void,
      onTimeout: () => Effect.logWarning(`mcp ${spec.name}: not connected yet; serving without its tools for now`)
    }),
    Effect.flatten
  )
  return { spec, current: () => link, lastTools: () => lastTools, lastCapabilities: () => lastCapabilities }
})
