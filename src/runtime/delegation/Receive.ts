/**
 * Delegation and handoff (RFC §14), the receiving side. `agent.delegate` from
 * an authenticated peer becomes a job of this runtime (its principal the
 * delegator's), running the tool `target` names; it ends job.completed /
 * job.failed / job.cancelled. The permissions the delegator passes on are kept
 * only as far as this runtime's policy grants them. `agent.handoff` must name
 * this runtime's identity (kind and fingerprint, §8.3); one addressed to any
 * other is refused PERMISSION_DENIED.
 */
import { type Context, Effect, Either, Option } from "effect"
import { ArcpError } from "../../protocol/Errors.js"
import { TraceId } from "../../protocol/Ids.js"
import type { Message } from "../../protocol/Message.js"
import { now } from "../../protocol/Timestamp.js"
import type { Jobs } from "../Jobs.js"
import type { Permissions } from "../permissions/Permissions.js"
import type { RouteContext } from "../Router.js"
import type { Settings } from "../RuntimeConfig.js"
import type { Tool, ToolRegistry } from "../Tools.js"

export interface ReceiveServices {
  readonly jobs: Context.Tag.Service<typeof Jobs>
  readonly tools: Context.Tag.Service<typeof ToolRegistry>
  readonly settings: Settings
  /** Inherited permissions become leases of the delegated job, as far as the runtime's policy grants them. */
  readonly permissions: Context.Tag.Service<typeof Permissions>
}

/** Most permissions one delegation may pass on. */
export const MAX_INHERITED = 64

/**
 * `tool` as a delegated job runs it: the inherited permissions become leases bound to the job (as far
 * as this runtime's policy grants them), a `log` event records who delegated and what was inherited,
 * then the tool's own handler runs; its leases are revoked when it ends.
 */
const delegated = (
  services: ReceiveServices,
  tool: Tool,
  from: { readonly owner: RouteContext["owner"]; readonly task: string; readonly asked: ReadonlyArray<string> },
  extra: Record<string, unknown>
): Tool => ({
  ...tool,
  prepare: (args) =>
    Either.map(tool.prepare(args), (handler) => (ctx) =>
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
            ctx.log("info", `delegated by ${from.owner.principal}: ${from.task}`.slice(0, 500), {
              reason: "delegated",
              delegator: from.owner.principal,
              permissions_inherited: granted.map((lease) => lease.permission),
              inherited_leases: granted.map((lease) => lease.lease_id),
              permissions_refused: refused,
              ...extra
            }),
            handler(ctx)
          ),
        ({ granted }) =>
          Effect.forEach(
            granted,
            (lease) => Effect.ignore(services.permissions.revoke(lease.lease_id, "the delegated job ended")),
            { discard: true }
          )
      ))
})

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
        tool: delegated(services, tool, { owner, task, asked }, {
          ...(context?.shared_memory_ref !== undefined ? { shared_memory_ref: context.shared_memory_ref } : {})
        })
      })
    })

/** `agent.handoff`: verified against this runtime's identity, then the named job (or session's jobs) move here. */
export const handoff =
  (services: ReceiveServices) =>
  (message: Message<"agent.handoff">, { outbound, owner }: RouteContext): Effect.Effect<void, ArcpError> =>
    Effect.gen(function*() {
      const me = services.settings.identity
      const to = message.payload.to_runtime
      if (to.kind !== me.kind || (me.fingerprint !== undefined && to.fingerprint !== me.fingerprint)) {
        return yield* ArcpError.of(
          "PERMISSION_DENIED",
          `this handoff is addressed to runtime ${to.kind} ${to.fingerprint ?? "(no fingerprint)"}; ` +
            `this runtime is ${me.kind} ${me.fingerprint ?? "(no fingerprint)"}`,
          { details: { reason: "identity_mismatch", runtime: { kind: me.kind, fingerprint: me.fingerprint } } }
        )
      }
      const { job_id, session_id } = message.payload
      if (job_id !== undefined || session_id !== undefined) {
        const taken = yield* services.jobs.adopt(owner, { jobId: job_id, sessionId: session_id })
        if (taken === 0) {
          return yield* ArcpError.of(
            "NOT_FOUND",
            `no live job of yours ${job_id !== undefined ? `named ${job_id}` : `in session ${session_id}`} to hand off`
          )
        }
      }
      yield* outbound.emit("ack", { ack_for: message.id, received_at: yield* now }, { correlation_id: message.id })
    })
