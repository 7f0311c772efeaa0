/**
 * MCP servers as ARCP tools (§20): each tool `t` of the MCP server `NAME`
 * becomes the ARCP tool `NAME.t`, with the MCP input schema as its argument
 * schema. A call runs as an ARCP job: MCP progress → `job.progress`, ARCP
 * cancel → MCP cancellation, MCP errors → canonical codes, content → result.
 */
import type { Tool as McpTool } from "@modelcontextprotocol/sdk/types.js"
import { Ajv, type ValidateFunction } from "ajv"
import { Effect, Either, Fiber, Layer, Option, Queue, Runtime } from "effect"
import { ArcpError } from "../protocol/Errors.js"
import { type Tool, type ToolContext, ToolRegistry } from "../runtime/Tools.js"
import { fromMcpFailure, readCallResult, toolError, toProgress, toResult } from "./Convert.js"
import type { McpServerSpec } from "./Spec.js"
import { supervise, type Supervised, type SupervisorOptions } from "./Supervisor.js"

export interface Options extends SupervisorOptions {
  /** The runtime's own tools; they win over an MCP tool of the same name. */
  readonly tools?: ReadonlyArray<Tool> | undefined
  readonly servers: ReadonlyArray<McpServerSpec>
  /** Longest an MCP call may run (default 1 h; ARCP deadlines still apply). */
  readonly callTimeoutMs?: number | undefined
}

/** Progress notifications waiting to become `job.progress` (the oldest are dropped past this). */
const PROGRESS_BUFFER = 256

const ajv = new Ajv({ strict: false, allErrors: true })
const validators = new WeakMap<McpTool, ValidateFunction | undefined>()

/** A compiled validator of the tool's input schema, or undefined if Ajv cannot compile it (the server validates). */
const validatorOf = (tool: McpTool): ValidateFunction | undefined => {
  if (!validators.has(tool)) {
    try {
      validators.set(tool, ajv.compile(tool.inputSchema))
    } catch {
      validators.set(tool, undefined)
    }
  }
  return validators.get(tool)
}

const down = (server: string) =>
  ArcpError.of("UNAVAILABLE", `MCP server "${server}" is down (it is being restarted); retry later`)

/** Runs one MCP call for a job: progress streams to the job in order; interruption (ARCP cancel) aborts the call. */
const call = (
  supervised: Supervised,
  tool: string,
  args: Record<string, unknown>,
  ctx: ToolContext,
  timeout: number
) =>
  Effect.gen(function*() {
    const server = supervised.spec.name
    const link = supervised.current()
    if (Option.isNone(link)) return yield* down(server)
    const runtime = yield* Effect.runtime<never>()
    const progress = yield* Queue.sliding<ReturnType<typeof toProgress> | undefined>(PROGRESS_BUFFER)
    const forward = yield* Effect.gen(function*() {
      for (let next = yield* Queue.take(progress); next !== undefined; next = yield* Queue.take(progress)) {
        yield* ctx.progress(next)
      }
    }).pipe(Effect.fork)
    // the abort signal fires when the job's fiber is interrupted (ARCP cancel): the SDK then sends
    // notifications/cancelled for the request and stops waiting for its answer
    const token = `arcp-${ctx.jobId}`
    const result = yield* Effect.acquireUseRelease(
      Effect.sync(() =>
        link.value.progress(token, (p) => Runtime.runSync(runtime)(Queue.offer(progress, toProgress(p))))
      ),
      () =>
        Effect.tryPromise({
          try: (signal) =>
            link.value.client.callTool({ name: tool, arguments: args, _meta: { progressToken: token } }, undefined, {
              signal,
              timeout
            }),
          catch: (e) => fromMcpFailure(server, e)
        }),
      (unroute) => Effect.sync(unroute)
    ).pipe(Effect.map(readCallResult), Effect.onInterrupt(() => Fiber.interrupt(forward)))
    yield* Queue.offer(progress, undefined)
    yield* Fiber.join(forward)
    if (result.isError === true) return yield* toolError(server, tool, result)
    return toResult(result)
  })

/** The ARCP tool for MCP tool `mcpTool` of `supervised`. */
const bridge = (supervised: Supervised, mcpTool: McpTool, timeout: number): Tool => ({
  name: `${supervised.spec.name}.${mcpTool.name}`,
  description: mcpTool.description,
  cancellable: true,
  liveness: "runtime",
  argumentsSchema: { ...mcpTool.inputSchema },
  resultSchema: mcpTool.outputSchema !== undefined ? { ...mcpTool.outputSchema } : undefined,
  prepare: (raw) => {
    const args = raw ?? {}
    if (typeof args !== "object" || Array.isArray(args)) {
      return Either.left(
        ArcpError.of("INVALID_ARGUMENT", `arguments of ${supervised.spec.name}.${mcpTool.name}: expected an object`)
      )
    }
    const validate = validatorOf(mcpTool)
    if (validate !== undefined && !validate(args)) {
      return Either.left(ArcpError.of(
        "INVALID_ARGUMENT",
        `arguments of ${supervised.spec.name}.${mcpTool.name}: ${ajv.errorsText(validate.errors)}`
      ))
    }
    const record: Record<string, unknown> = { ...args }
    return Either.right((ctx: ToolContext) => call(supervised, mcpTool.name, record, ctx, timeout))
  }
})

/**
 * A `ToolRegistry` of `options.tools` plus the tools of each MCP server, which
 * are supervised for the life of the layer. Names under a server that is down
 * are refused UNAVAILABLE (retryable) rather than NOT_FOUND.
 */
export const registry = (options: Options): Layer.Layer<ToolRegistry> =>
  Layer.scoped(
    ToolRegistry,
    Effect.gen(function*() {
      const own = new Map((options.tools ?? []).map((t) => [t.name, t]))
      const timeout = options.callTimeoutMs ?? 3_600_000
      const servers = yield* Effect.forEach(options.servers, (spec) => supervise(spec, options), {
        concurrency: "unbounded"
      })
      const bridged = new WeakMap<McpTool, Tool>()
      const toolOf = (supervised: Supervised, mcpTool: McpTool) => {
        const existing = bridged.get(mcpTool)
        if (existing !== undefined) return existing
        const made = bridge(supervised, mcpTool, timeout)
        bridged.set(mcpTool, made)
        return made
      }
      const unavailable = (name: string, server: string): Tool => ({
        name,
        cancellable: true,
        liveness: "runtime",
        prepare: () => Either.left(down(server))
      })
      return ToolRegistry.of({
        get: (name) => {
          const mine = own.get(name)
          if (mine !== undefined) return Option.some(mine)
          const supervised = servers.find((s) => name.startsWith(`${s.spec.name}.`))
          if (supervised === undefined) return Option.none()
          const link = supervised.current()
          if (Option.isNone(link)) return Option.some(unavailable(name, supervised.spec.name))
          const mcpTool = link.value.tools.get(name.slice(supervised.spec.name.length + 1))
          return mcpTool === undefined ? Option.none() : Option.some(toolOf(supervised, mcpTool))
        },
        // read on each use: the MCP servers' tools are those of their latest listing
        get list() {
          return [
            ...own.values(),
            ...servers.flatMap((s) =>
              [...s.lastTools().values()].filter((t) => !own.has(`${s.spec.name}.${t.name}`)).map((t) => toolOf(s, t))
            )
          ]
        }
      })
    })
  )
