/**
 * Delegation (RFC §14), the receiving side. `agent.delegate` from an
 * authenticated peer becomes a job of this runtime (its principal the
 * delegator's), running the tool `target` names; it ends job.completed /
 * job.failed / job.cancelled. The permissions the delegator passes on become
 * leases of that job only as far as this runtime's policy grants them.
 * (`agent.handoff`: Handoff.ts.)
 */
import { type Context, Effect, Either, Option } from "effect"
import { ArcpError } from "../../protocol/Errors.js"
import { TraceId } from "../../protocol/Ids.js"
import type { Message } from "../../protocol/Message.js"
import type { Jobs } from "../jobs/Jobs.js"
import type { Permissions } from "../permissions/Permissions.js"
import type { RouteContext } from "../Router.js"
import type { Settings } from "../RuntimeConfig.js"
import type { Restored, Tool, ToolRegistry } from "../Tools.js"

export interface ReceiveServices {
  readonly jobs: Context.Tag.Service<typeof Jobs>
  readonly tools: Context.Tag.Service<typeof ToolRegistry>
  readonly settings: Settings
  /** Inherited permissions become leases of the delegated job, as far as the runtime's policy grants them. */
  readonly permissions: Context.Tag.Service<typeof Permissions>
}

/** Most permissions one delegation may pass on. */
export const MAX_INHERITED = 64

/** How a job came from a peer: who sent it, what it inherits, what its first `log` event says. */
export interface Arrival {
  readonly owner: RouteContext["owner"]
  readonly asked: ReadonlyArray<string>
  readonly message: string
  readonly attributes: Record<string, unknown>
  /** Where a handed-off job stood: a tool that can resume continues from there (§4.3). */
  readonly restored?: Restored | undefined
}

/**
 * `tool` as a job a peer sent (delegated or handed off) runs it: the inherited permissions become
 * leases bound to the job (as far as this runtime's policy grants them), a `log` event records who
 * sent it and what was inherited, then the tool's own handler runs (its resume handler from
 * `restored`); the leases are revoked when it ends.
 */
export const arrived = (services: Pick<ReceiveServices, "permissions">, tool: Tool, from: Arrival): Tool => {
  const restored = from.restored
  const prepare = restored !== undefined && tool.resume !== undefined ? tool.resume : tool.prepare
  return {
    ...tool,
    prepare: (args) =>
      Either.map(prepare(args), (handler) => (ctx) =>
        Effect.acquireUseRelease(
          services.permissions.inherit({
            principal: ctx.principal,
            sessionId: ctx.sessionId,
            jobId: ctx.jobId,
            tool: tool.name,
            trustLevel: from.owner.trustLevel,
            delegator: from.owner.principal
          }, from.asked),
          ({ granted, refused }) =>
            Effect.zipRight(
              ctx.log("info", from.message.slice(0, 500), {
                delegator: from.owner.principal,
                permissions_inherited: granted.map((lease) => lease.permission),
                inherited_leases: granted.map((lease) => lease.lease_id),
                permissions_refused: refused,
                ...from.attributes
              }),
              handler(restored !== undefined ? { ...ctx, restored } : ctx)
            ),
          ({ granted }) =>
            Effect.forEach(
              granted,
              (lease) => Effect.ignore(services.permissions.revoke(lease.lease_id, "the delegated job ended")),
              { discard: true }
            )
        ))
  }
}

/** `agent.delegate`: starts the delegated job, answered like an invoke (job.accepted, correlation = the message). */
export const delegate =
  (services: ReceiveServices) =>
  (message: Message<"agent.delegate">, { owner }: RouteContext): Effect.Effect<void, ArcpError> =>
    Effect.gen(function*() {
      const { context, target, task } = message.payload
      const tool = yield* Option.match(services.tools.get(target), {
        onNone: () =>
          Effect.fail(
            ArcpError.of("NOT_FOUND", `no tool or agent named "${target}" to delegate to`, { details: { target } })
          ),
        onSome: Effect.succeed
      })
      const asked = context?.permissions_inherited ?? []
      if (asked.length > MAX_INHERITED) {
        return yield* ArcpError.of(
          "RESOURCE_EXHAUSTED",
          `a delegation may pass on at most ${MAX_INHERITED} permissions (this one names ${asked.length})`
        )
      }
      const traceId = message.trace_id ?? context?.trace_id
      const invoke: Message<"tool.invoke"> = {
        ...message,
        ...(traceId !== undefined ? { trace_id: TraceId.make(traceId) } : {}),
        type: "tool.invoke",
        payload: { tool: target, arguments: message.payload.arguments ?? { task } }
      }
      yield* services.jobs.invoke(invoke, owner, undefined, {
        endsAsJob: true,
        tool: arrived(services, tool, {
          owner,
          asked,
          message: `delegated by ${owner.principal}: ${task}`,
          attributes: {
            reason: "delegated",
            ...(context?.shared_memory_ref !== undefined ? { shared_memory_ref: context.shared_memory_ref } : {})
          }
        })
      })
    })
