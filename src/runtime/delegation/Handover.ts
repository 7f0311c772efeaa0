/**
 * Running jobs a handoff can move (RFC §14 `agent.handoff`, the sending
 * side). Every job's handler runs through `handoverable`, which registers it
 * while it runs and keeps its last checkpoint; `request` hands a registered
 * job to a destination: its handler is interrupted where it stands and the
 * job's fiber runs the destination in its place (send the work to the peer
 * runtime, follow the job there), so the job's outcome is the peer's and
 * cancelling it cancels the peer's job. A job is handed off at most once.
 */
import { Context, Deferred, Effect, Exit, Fiber, Layer, Option } from "effect"
import { ArcpError } from "../../protocol/Errors.js"
import type { Tool, ToolContext } from "../Tools.js"

/** The work a handoff moves: the tool, its arguments, and where it stood (its last checkpoint). */
export interface HandedWork {
  readonly tool: string
  readonly arguments: Record<string, unknown>
  readonly checkpoint?: { readonly checkpoint_id: string; readonly snapshot?: unknown } | undefined
}

/** Where the work goes: run in the job's fiber (with its context) in place of the handler; its outcome is the job's. */
export type Destination = (work: HandedWork, ctx: ToolContext) => Effect.Effect<unknown, ArcpError>

interface Registered {
  readonly principal: string
  readonly sessionId: string
  readonly signal: Deferred.Deferred<Destination>
}

/** Most jobs of one session a single handoff moves. */
export const MAX_HANDED = 256

export class Handovers extends Context.Tag("arcp/Handovers")<Handovers, {
  /** `handler` (of `tool` with `args`), made movable by a handoff while it runs: a cancellable tool's only. */
  readonly handoverable: (
    tool: Pick<Tool, "name" | "cancellable">,
    args: Record<string, unknown> | undefined,
    handler: (ctx: ToolContext) => Effect.Effect<unknown, ArcpError>
  ) => (ctx: ToolContext) => Effect.Effect<unknown, ArcpError>
  /** The running jobs of `principal` named by `jobId`, or all those of session `sessionId` (at most MAX_HANDED). */
  readonly running: (
    principal: string,
    target: { readonly jobId?: string | undefined; readonly sessionId?: string | undefined }
  ) => ReadonlyArray<string>
  /** Sends job `jobId` to `destination`; false when it is no longer running here (ended, or handed off already). */
  readonly request: (jobId: string, destination: Destination) => Effect.Effect<boolean>
}>() {}

export const make = (): Context.Tag.Service<typeof Handovers> => {
  const registered = new Map<string, Registered>()
  return Handovers.of({
    handoverable: (tool, args, handler) => (ctx) =>
      // a tool that cannot be interrupted cannot be stopped where it stands to be handed off
      !tool.cancellable ? handler(ctx) : Effect.gen(function*() {
        const signal = yield* Deferred.make<Destination>()
        const restored = ctx.restored
        let last: HandedWork["checkpoint"] = restored?.checkpointId !== undefined
          ? { checkpoint_id: restored.checkpointId, snapshot: restored.snapshot }
          : undefined
        // the context the handler sees keeps its last checkpoint: where the work stands when handed off
        const tracked: ToolContext = {
          ...ctx,
          checkpoint: (snapshot) =>
            Effect.tap(ctx.checkpoint(snapshot), (id) =>
              Effect.sync(() => {
                last = { checkpoint_id: id, ...(snapshot !== undefined ? { snapshot } : {}) }
              }))
        }
        registered.set(ctx.jobId, { principal: ctx.principal, sessionId: ctx.sessionId, signal })
        // the handler in a fiber of its own: a handoff interrupts it there; the job's own interruption
        // (a cancel) is passed on and awaited, so its finalizers (a delegated job's cancel) run first
        const fiber = yield* Effect.fork(handler(tracked))
        const watcher = yield* Effect.fork(Effect.zipRight(Deferred.await(signal), Fiber.interrupt(fiber)))
        const exit = yield* Fiber.await(fiber).pipe(
          Effect.onInterrupt(() => Fiber.interrupt(fiber)),
          Effect.ensuring(Effect.zipRight(Fiber.interrupt(watcher), Effect.sync(() => registered.delete(ctx.jobId))))
        )
        const destination = yield* Deferred.poll(signal)
        if (Option.isNone(destination) || !Exit.isInterrupted(exit)) return yield* exit
        return yield* Effect.flatMap(
          destination.value,
          (to) => to({ tool: tool.name, arguments: args ?? {}, checkpoint: last }, ctx)
        )
      }),

    running: (principal, target) => {
      const found: Array<string> = []
      for (const [jobId, entry] of registered) {
        if (found.length >= MAX_HANDED) break
        if (entry.principal !== principal) continue
        if (jobId === target.jobId || (target.sessionId !== undefined && entry.sessionId === target.sessionId)) {
          found.push(jobId)
        }
      }
      return found
    },

    request: (jobId, destination) =>
      Effect.suspend(() => {
        const entry = registered.get(jobId)
        if (entry === undefined) return Effect.succeed(false)
        registered.delete(jobId)
        return Deferred.succeed(entry.signal, destination)
      })
  })
}

export const layer: Layer.Layer<Handovers> = Layer.sync(Handovers, make)

/** A job that stopped running between being found and being handed. */
export const notRunning = (jobId: string) =>
  ArcpError.of("FAILED_PRECONDITION", `job ${jobId} is no longer running here (it ended, or was handed off already)`)
