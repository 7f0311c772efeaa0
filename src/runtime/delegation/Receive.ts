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
import type { PermissionPolicy } from "../permissions/PermissionPolicy.js"
import type { TrustLevel } from "../permissions/Trust.js"
import type { RouteContext } from "../Router.js"
import type { Settings } from "../RuntimeConfig.js"
import type { Tool, ToolRegistry } from "../Tools.js"

export interface ReceiveServices {
  readonly jobs: Context.Tag.Service<typeof Jobs>
  readonly tools: Context.Tag.Service<typeof ToolRegistry>
  readonly settings: Settings
  /** The runtime's permission policy: what it grants at once is what a delegator may pass on. */
  readonly policy: Option.Option<Context.Tag.Service<typeof PermissionPolicy>>
}

/** Which of `asked` this runtime's policy grants for `tool` to `principal`; without a policy, none. */
const inheritable = (
  services: ReceiveServices,
  asked: ReadonlyArray<string>,
  question: { readonly principal: string; readonly sessionId: string; readonly tool: Tool; readonly trust: TrustLevel }
) =>
  Effect.forEach(asked, (permission) =>
    Option.match(services.policy, {
      onNone: () => Effect.succeed([permission, false] as const),
      onSome: (policy) =>
        Effect.map(
          policy.decide({
            principal: question.principal,
            sessionId: question.sessionId,
            jobId: "",
            tool: question.tool.name,
            trustLevel: question.trust,
            permission,
            resource: "*",
            operation: "*",
            reason: "inherited by delegation"
          }),
          (decision) => [permission, decision._tag === "Grant"] as const
        )
    }))

/**
 * `tool` as a delegated job runs it: first a `log` event recording who delegated and what was
 * inherited, then the tool's own handler.
 */
const delegated = (
  tool: Tool,
  note: { readonly message: string; readonly attributes: Record<string, unknown> }
): Tool => ({
  ...tool,
  prepare: (args) =>
    Either.map(
      tool.prepare(args),
      (handler) => (ctx) => Effect.zipRight(ctx.log("info", note.message, note.attributes), handler(ctx))
    )
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
      const verdicts = yield* inheritable(services, asked, {
        principal: owner.principal,
        sessionId: owner.sessionId,
        tool,
        trust: owner.trustLevel
      })
      const granted = verdicts.filter(([, ok]) => ok).map(([p]) => p)
      const refused = verdicts.filter(([, ok]) => !ok).map(([p]) => p)
      const traceId = message.trace_id ?? context?.trace_id
      const invoke: Message<"tool.invoke"> = {
        ...message,
        ...(traceId !== undefined ? { trace_id: TraceId.make(traceId) } : {}),
        type: "tool.invoke",
        payload: { tool: target, arguments: message.payload.arguments ?? { task } }
      }
      yield* services.jobs.invoke(invoke, owner, undefined, {
        endsAsJob: true,
        tool: delegated(tool, {
          message: `delegated by ${owner.principal}: ${task}`.slice(0, 500),
          attributes: {
            reason: "delegated",
            delegator: owner.principal,
            permissions_inherited: granted,
            permissions_refused: refused,
            ...(context?.shared_memory_ref !== undefined ? { shared_memory_ref: context.shared_memory_ref } : {})
          }
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
