/**
 * The embedder's say over permission requests (RFC §15.4 step 4, "according to
 * policy"): grant at once, deny at once, or ask the client (the default).
 */
import { Context, Effect, Layer } from "effect"
import type { TrustLevel } from "./Trust.js"

/** What a tool asked for, and who is asking: what a policy decides on. */
export interface PermissionQuestion {
  readonly principal: string
  readonly sessionId: string
  readonly jobId: string
  readonly tool: string
  readonly trustLevel: TrustLevel
  readonly permission: string
  readonly resource: string
  readonly operation: string
  readonly reason?: string | undefined
  readonly requestedLeaseSeconds?: number | undefined
}

/** A policy's answer. A grant's lease runs `leaseSeconds` (default: what the tool requested), capped by the runtime. */
export type PermissionDecision =
  | { readonly _tag: "Grant"; readonly leaseSeconds?: number | undefined; readonly grantedBy?: string | undefined }
  | { readonly _tag: "Deny"; readonly reason: string }
  | { readonly _tag: "Ask" }

export class PermissionPolicy extends Context.Tag("arcp/PermissionPolicy")<PermissionPolicy, {
  readonly decide: (question: PermissionQuestion) => Effect.Effect<PermissionDecision>
}>() {}

/** Asks the client every time: the policy when none is provided. */
export const ask: Context.Tag.Service<PermissionPolicy> = PermissionPolicy.of({
  decide: () => Effect.succeed({ _tag: "Ask" })
})

/** A policy from a decision function. */
export const layer = (decide: (question: PermissionQuestion) => Effect.Effect<PermissionDecision>) =>
  Layer.succeed(PermissionPolicy, PermissionPolicy.of({ decide }))

/** What a plain async policy returns: a word, or a grant with its lease length / a denial with its reason. */
export type PromiseDecision =
  | "grant"
  | "deny"
  | "ask"
  | { readonly decision: "grant"; readonly lease_seconds?: number; readonly granted_by?: string }
  | { readonly decision: "deny"; readonly reason?: string }

const fromWord = (answer: PromiseDecision): PermissionDecision => {
  const word = typeof answer === "string" ? answer : answer.decision
  if (word === "ask") return { _tag: "Ask" }
  if (word === "deny") {
    const reason = typeof answer === "object" && answer.decision === "deny" ? answer.reason : undefined
    return { _tag: "Deny", reason: reason ?? "denied by the runtime's policy" }
  }
  return typeof answer === "object" && answer.decision === "grant"
    ? { _tag: "Grant", leaseSeconds: answer.lease_seconds, grantedBy: answer.granted_by ?? "policy" }
    : { _tag: "Grant", grantedBy: "policy" }
}

/**
 * A policy from a plain async function (the Promise adapter's). A function that
 * throws or rejects denies: a broken policy must not grant.
 */
export const fromPromise = (decide: (question: PermissionQuestion) => Promise<PromiseDecision>) =>
  PermissionPolicy.of({
    decide: (question) =>
      Effect.tryPromise(() => decide(question)).pipe(
        Effect.map(fromWord),
        Effect.catchAll((e) =>
          Effect.as(Effect.logWarning("the permission policy failed; the request is denied", e), {
            _tag: "Deny" as const,
            reason: "the runtime's permission policy failed"
          })
        )
      )
  })
