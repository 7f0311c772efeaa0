/**
 * `agent.handoff` (RFC §14): ownership of a job's work, or of every running
 * job of a session, moves to another runtime, and the message names that
 * runtime's identity for verification. Three cases, by whom it is addressed to:
 *
 * - a configured remote (matched by its pinned fingerprint): this runtime is
 *   the sender. Each named running job is stopped where it stands and sent to
 *   the remote as `agent.handoff` carrying the work (tool, arguments, last
 *   checkpoint); the job here then follows the remote's job (its outcome,
 *   cancel propagated) — see Handover.ts. Answered with `ack` once the remote
 *   accepted every job.
 * - this runtime, carrying `job`: this runtime is the receiver; the work runs
 *   as a job of the sender's principal, from the checkpoint when the tool can
 *   resume, answered like an invoke (job.accepted).
 * - this runtime, without `job`: the named live jobs of the principal move to
 *   the asking session (their later events go there).
 *
 * Any other identity is refused PERMISSION_DENIED (identity_mismatch).
 */
import { Cause, type Context, Deferred, Effect, Exit, Option } from "effect"
import { ArcpError } from "../../protocol/Errors.js"
import { CheckpointId } from "../../protocol/Ids.js"
import type { Message, PayloadOf } from "../../protocol/Message.js"
import { now } from "../../protocol/Timestamp.js"
import type { RouteContext } from "../Router.js"
import { type Destination, type Handovers, notRunning } from "./Handover.js"
import { arrived, type ReceiveServices } from "./Receive.js"
import type { Remotes } from "./Remotes.js"

export interface HandoffServices extends ReceiveServices {
  readonly handovers: Context.Tag.Service<typeof Handovers>
  readonly remotes: Option.Option<Context.Tag.Service<typeof Remotes>>
}

type Identity = PayloadOf<"agent.handoff">["to_runtime"]

const mismatch = (me: Identity, to: Identity) =>
  ArcpError.of(
    "PERMISSION_DENIED",
    `this handoff is addressed to runtime ${to.kind} ${to.fingerprint ?? "(no fingerprint)"}; ` +
      `this runtime is ${me.kind} ${me.fingerprint ?? "(no fingerprint)"}` +
      " and knows no remote runtime by that fingerprint",
    { details: { reason: "identity_mismatch", runtime: { kind: me.kind, fingerprint: me.fingerprint } } }
  )

/** Sends the named running jobs of the asker to remote `name`; each is accepted there before this returns. */
const handOut = Effect.fnUntraced(function*(
  services: HandoffServices,
  remotes: Context.Tag.Service<typeof Remotes>,
  name: string,
  message: Message<"agent.handoff">,
  owner: RouteContext["owner"]
) {
  const { job_id, reason, session_id, to_runtime } = message.payload
  if (job_id === undefined && session_id === undefined) {
    return yield* ArcpError.of(
      "INVALID_ARGUMENT",
      "a handoff to another runtime names the job_id or session_id to hand"
    )
  }
  const ids = services.handovers.running(owner.principal, { jobId: job_id, sessionId: session_id })
  if (ids.length === 0) {
    return yield* ArcpError.of(
      "NOT_FOUND",
      `no running job of yours ${job_id !== undefined ? `named ${job_id}` : `in session ${session_id}`} to hand off`
    )
  }
  return yield* Effect.forEach(ids, (jobId) =>
    Effect.gen(function*() {
      const accepted = yield* Deferred.make<string, ArcpError>()
      const destination: Destination = (work, ctx) =>
        remotes.handOver(name, to_runtime, { ...work, reason }, (remoteJobId) =>
          Effect.zipRight(
            ctx.log("info", `handed off to ${name} as job ${remoteJobId}`, {
              reason: "handed_off",
              remote: name,
              remote_job_id: remoteJobId,
              ...(work.checkpoint !== undefined ? { checkpoint_id: work.checkpoint.checkpoint_id } : {})
            }),
            Deferred.succeed(accepted, remoteJobId)
          )).pipe(
            // refused, unreachable or cancelled before the remote accepted: the asker hears why
            Effect.onExit((exit) =>
              Exit.isSuccess(exit) ? Effect.void : Deferred.fail(
                accepted,
                Option.getOrElse(
                  Cause.failureOption(exit.cause),
                  () => ArcpError.of("CANCELLED", `job ${jobId} was cancelled while it was handed off`)
                )
              )
            )
          )
      if (!(yield* services.handovers.request(jobId, destination))) return yield* notRunning(jobId)
      return yield* Deferred.await(accepted)
    }), { concurrency: 8 })
})

/** Runs handed-off work here as a job of the sender, answered like an invoke. */
const takeIn = Effect.fnUntraced(function*(
  services: HandoffServices,
  message: Message<"agent.handoff">,
  work: NonNullable<PayloadOf<"agent.handoff">["job"]>,
  owner: RouteContext["owner"]
) {
  const tool = yield* Option.match(services.tools.get(work.tool), {
    onNone: () =>
      Effect.fail(
        ArcpError.of("NOT_FOUND", `no tool named "${work.tool}" to take the handed-off job`, {
          details: { tool: work.tool }
        })
      ),
    onSome: Effect.succeed
  })
  const checkpoint = work.checkpoint
  const invoke: Message<"tool.invoke"> = {
    ...message,
    type: "tool.invoke",
    payload: { tool: work.tool, arguments: work.arguments ?? {} }
  }
  yield* services.jobs.invoke(invoke, owner, undefined, {
    endsAsJob: true,
    tool: arrived(services, tool, {
      owner,
      asked: [],
      message: `handed over by ${owner.principal}${
        message.payload.reason !== undefined ? `: ${message.payload.reason}` : ""
      }`,
      attributes: {
        reason: "handed_over",
        ...(checkpoint !== undefined ? { checkpoint_id: checkpoint.checkpoint_id } : {})
      },
      restored: checkpoint === undefined ? undefined : {
        checkpointId: CheckpointId.make(checkpoint.checkpoint_id),
        snapshot: checkpoint.snapshot,
        since: []
      }
    })
  })
})

/** `agent.handoff`: see the module comment. */
export const handoff =
  (services: HandoffServices) =>
  (message: Message<"agent.handoff">, { outbound, owner }: RouteContext): Effect.Effect<void, ArcpError> =>
    Effect.gen(function*() {
      const me = services.settings.identity
      const { job, job_id, session_id, to_runtime: to } = message.payload
      const ack = Effect.flatMap(
        now,
        (received_at) => outbound.emit("ack", { ack_for: message.id, received_at }, { correlation_id: message.id })
      )
      // addressed to a peer this runtime is configured to reach: it sends the work there
      const remote = job === undefined && to.fingerprint !== me.fingerprint
        ? Option.flatMap(
          services.remotes,
          (r) => Option.map(r.withFingerprint(to.fingerprint), (name) => [r, name] as const)
        )
        : Option.none()
      if (Option.isSome(remote)) {
        const [remotes, name] = remote.value
        yield* handOut(services, remotes, name, message, owner)
        return yield* ack
      }
      if (to.kind !== me.kind || (me.fingerprint !== undefined && to.fingerprint !== me.fingerprint)) {
        return yield* mismatch(me, to)
      }
      if (job !== undefined) return yield* takeIn(services, message, job, owner)
      if (job_id !== undefined || session_id !== undefined) {
        const taken = yield* services.jobs.adopt(owner, { jobId: job_id, sessionId: session_id })
        if (taken === 0) {
          return yield* ArcpError.of(
            "NOT_FOUND",
            `no live job of yours ${job_id !== undefined ? `named ${job_id}` : `in session ${session_id}`} to hand off`
          )
        }
      }
      yield* ack
    })
