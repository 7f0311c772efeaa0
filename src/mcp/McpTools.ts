/**
 * MCP servers as ARCP tools (§20): each tool `t` of the MCP server `NAME`
 * becomes the ARCP tool `NAME.t`, with the MCP input schema as its argument
 * schema. A call runs as an ARCP job: MCP progress → `job.progress`, ARCP
 * cancel → MCP cancellation (ABORTED when the server keeps at it past the
 * deadline), MCP errors → canonical codes, content → result (bytes as
 * artifacts). MCP resources are tools too (McpResources).
 */
import type { Tool as McpTool } from "@modelcontextprotocol/sdk/types.js"
import { Ajv, type ValidateFunction } from "ajv"
import { Chunk, Duration, Effect, Either, Fiber, Layer, Option, Queue } from "effect"
import { ArcpError } from "../protocol/Errors.js"
import { type Tool, type ToolContext, ToolRegistry } from "../runtime/Tools.js"
import { fromMcpFailure, readCallResult, toolError, toProgress, toResult } from "./Convert.js"
import { resourceTools } from "./McpResources.js"
import type { McpServerSpec } from "./Spec.js"
import { supervise, type Supervised, type SupervisorOptions } from "./Supervisor.js"

export interface Options extends SupervisorOptions {
  /** The runtime's own tools; they win over an MCP tool of the same name. */
  readonly tools?: ReadonlyArray<Tool> | undefined
  readonly servers: ReadonlyArray<McpServerSpec>
  /** Longest an MCP call may run (default 1 h; ARCP deadlines still apply). */
  readonly callTimeoutMs?: number | undefined
  /**
   * After an ARCP cancel, how long the server must stay silent about the call for the job
   * to end `cancelled` (default 200 ms); a server still reporting progress at the cancel's
   * deadline leaves the job ABORTED.
   */
  readonly cancelQuiet?: Duration.DurationInput | undefined
  /**
   * Longest the bridge listens for the server to go quiet after a cancel (default 15 s): past it
   * the call is let go (a runtime shutting down waits no longer than this for such a call).
   */
  readonly cancelListen?: Duration.DurationInput | undefined
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

/**
 * After an ARCP cancel the bridge waits until the server has said nothing about the call
 * for `quiet`: MCP cancellation is fire-and-forget, and progress that keeps coming is the
 * one sign that the server ignores it. A server still reporting past the cancel's deadline
 * leaves the job ABORTED (§10.4); the wait itself gives up after `cap`.
 */
const untilQuiet = Effect.fnUntraced(
  function*(activity: Queue.Queue<void>, quiet: Duration.Duration, cap: Duration.Duration) {
    // sleeps and looks, rather than racing a take against a timer: this runs while the fiber is
    // being interrupted (uninterruptible), where a race's loser could never be stopped
    yield* Queue.takeAll(activity)
    const rounds = Math.max(1, Math.ceil(Duration.toMillis(cap) / Math.max(1, Duration.toMillis(quiet))))
    for (let round = 0; round < rounds; round++) {
      yield* Effect.sleep(quiet)
      if (Chunk.isEmpty(yield* Queue.takeAll(activity))) return
    }
  }
)

/** Runs one MCP call for a job: progress streams to the job in order; interruption (ARCP cancel) aborts the call. */
const call = Effect.fnUntraced(function*(
  supervised: Supervised,
  tool: string,
  args: Record<string, unknown>,
  ctx: ToolContext,
  settings: Settings
) {
  const server = supervised.spec.name
  const link = supervised.current()
  if (Option.isNone(link)) return yield* down(server)
  const progress = yield* Queue.sliding<ReturnType<typeof toProgress> | undefined>(PROGRESS_BUFFER)
  const activity = yield* Queue.sliding<void>(1)
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
      link.value.progress(token, (p) => {
        progress.unsafeOffer(toProgress(p))
        activity.unsafeOffer(undefined)
      })
    ),
    () =>
      Effect.tryPromise({
        try: (signal) =>
          link.value.client.callTool({ name: tool, arguments: args, _meta: { progressToken: token } }, undefined, {
            signal,
            timeout: settings.timeout
          }),
        catch: (e) => fromMcpFailure(server, e)
      }).pipe(
        Effect.onInterrupt(() =>
          Effect.zipRight(Fiber.interrupt(forward), untilQuiet(activity, settings.cancelQuiet, settings.drainCap))
        )
      ),
    (unroute) => Effect.sync(unroute)
  ).pipe(Effect.map(readCallResult))
  yield* Queue.offer(progress, undefined)
  yield* Fiber.join(forward)
  if (result.isError === true) return yield* toolError(server, tool, result)
  return yield* toResult(server, result, (bytes, mediaType) => ctx.putArtifact(bytes, mediaType))
})

/** How calls run: their timeout, and how cancellation is confirmed. */
interface Settings {
  readonly timeout: number
  readonly cancelQuiet: Duration.Duration
  readonly drainCap: Duration.Duration
}

/** The ARCP tool for MCP tool `mcpTool` of `supervised`. */
const bridge = (supervised: Supervised, mcpTool: McpTool, settings: Settings): Tool => ({
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
    return Either.right((ctx: ToolContext) => call(supervised, mcpTool.name, record, ctx, settings))
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
      const settings: Settings = {
        timeout,
        cancelQuiet: Duration.decode(options.cancelQuiet ?? "200 millis"),
        drainCap: Duration.decode(options.cancelListen ?? "15 seconds")
      }
      const servers = yield* Effect.forEach(options.servers, (spec) => supervise(spec, options), {
        concurrency: "unbounded"
      })
      const bridged = new WeakMap<McpTool, Tool>()
      const toolOf = (supervised: Supervised, mcpTool: McpTool) => {
        const existing = bridged.get(mcpTool)
        if (existing !== undefined) return existing
        const made = bridge(supervised, mcpTool, settings)
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
          if (mcpTool !== undefined) return Option.some(toolOf(supervised, mcpTool))
          return Option.fromNullable(resourceTools(supervised).find((t) => t.name === name))
        },
        // read on each use: the MCP servers' tools are those of their latest listing
        get list() {
          return [
            ...own.values(),
            ...servers.flatMap((s) => {
              const bridgedTools = [...s.lastTools().values()].filter((t) => !own.has(`${s.spec.name}.${t.name}`))
                .map((t) => toolOf(s, t))
              const taken = new Set(bridgedTools.map((t) => t.name))
              return [
                ...bridgedTools,
                ...resourceTools(s).filter((t) => !own.has(t.name) && !taken.has(t.name))
              ]
            })
          ]
        }
      })
    })
  )
