/**
 * Capability negotiation (RFC §7): the capability object both sides send, and
 * a pure `negotiate` that intersects them.
 */
import { Schema } from "effect"
import { isExtensionName } from "./Extensions.js"

/**
 * The boolean feature flags of §7 (plus `interrupt` §10.5 and `anonymous` §4.6, and our
 * `agent_delegation` §14 and `workflows` §6.3, ignored by peers that do not know them).
 */
export const featureFlags = [
  "streaming",
  "durable_jobs",
  "checkpoints",
  "binary_streams",
  "agent_handoff",
  "human_input",
  "artifacts",
  "subscriptions",
  "scheduled_jobs",
  "interrupt",
  "anonymous",
  "agent_delegation",
  "workflows"
] as const
export type FeatureFlag = (typeof featureFlags)[number]

const ExtensionList = Schema.Array(
  Schema.String.pipe(Schema.filter((s) => isExtensionName(s) || s.startsWith("x-") || "Expected an extension name"))
)

/** The capability object of `session.open` / `session.accepted`. Absent booleans mean false (§7). */
export const Capabilities = Schema.Struct({
  streaming: Schema.optional(Schema.Boolean),
  durable_jobs: Schema.optional(Schema.Boolean),
  checkpoints: Schema.optional(Schema.Boolean),
  binary_streams: Schema.optional(Schema.Boolean),
  agent_handoff: Schema.optional(Schema.Boolean),
  human_input: Schema.optional(Schema.Boolean),
  artifacts: Schema.optional(Schema.Boolean),
  subscriptions: Schema.optional(Schema.Boolean),
  scheduled_jobs: Schema.optional(Schema.Boolean),
  interrupt: Schema.optional(Schema.Boolean),
  anonymous: Schema.optional(Schema.Boolean),
  agent_delegation: Schema.optional(Schema.Boolean),
  workflows: Schema.optional(Schema.Boolean),
  heartbeat_interval_seconds: Schema.optional(Schema.Number.pipe(Schema.int(), Schema.positive())),
  heartbeat_recovery: Schema.optional(Schema.Literal("fail", "block")),
  binary_encoding: Schema.optional(Schema.Array(Schema.Literal("base64", "sidecar"))),
  artifact_retention: Schema.optional(
    Schema.Struct({
      default_seconds: Schema.Number.pipe(Schema.nonNegative()),
      max_seconds: Schema.Number.pipe(Schema.nonNegative())
    })
  ),
  extensions: Schema.optional(ExtensionList),
  /**
   * Our addition, ignored by peers that do not know it: features or extension
   * names the sender cannot work without. Unmet ones reject the session with
   * UNIMPLEMENTED (§7).
   */
  required: Schema.optional(Schema.Array(Schema.String))
}).annotations({ identifier: "Capabilities" })
export type Capabilities = typeof Capabilities.Type

/** The heartbeat interval when neither side names one (§10.3). */
export const DEFAULT_HEARTBEAT_INTERVAL_SECONDS = 30

/** The outcome of `negotiate`: the agreed capabilities, and what was required but not supported. */
export interface Negotiated {
  readonly capabilities: Capabilities
  readonly unsupported: ReadonlyArray<string>
}

const isFeatureFlag = (name: string): name is FeatureFlag => (featureFlags as ReadonlyArray<string>).includes(name)

/**
 * Intersects the client's offer with what the runtime supports (§7):
 * booleans are the AND of both sides (absent = false); the heartbeat interval
 * is the smaller one; `heartbeat_recovery` and `artifact_retention` are the
 * runtime's own policy; encodings and extensions are the common subset
 * (a client that names no encoding gets base64, the one every transport has).
 * `required` names features or extensions that must survive; those that do
 * not are listed in `unsupported` (the caller rejects with UNIMPLEMENTED).
 */
export const negotiate = (
  offered: Capabilities,
  supported: Capabilities,
  required: ReadonlyArray<string> = []
): Negotiated => {
  const flags: Partial<Record<FeatureFlag, boolean>> = {}
  for (const flag of featureFlags) flags[flag] = offered[flag] === true && supported[flag] === true

  const interval = Math.min(
    offered.heartbeat_interval_seconds ?? DEFAULT_HEARTBEAT_INTERVAL_SECONDS,
    supported.heartbeat_interval_seconds ?? DEFAULT_HEARTBEAT_INTERVAL_SECONDS
  )
  const encodings = (supported.binary_encoding ?? ["base64"]).filter((e) =>
    (offered.binary_encoding ?? ["base64"]).includes(e)
  )
  const extensions = (offered.extensions ?? []).filter((e) => (supported.extensions ?? []).includes(e))

  const capabilities: Capabilities = {
    ...flags,
    heartbeat_interval_seconds: interval,
    ...(supported.heartbeat_recovery !== undefined ? { heartbeat_recovery: supported.heartbeat_recovery } : {}),
    binary_encoding: encodings,
    ...(supported.artifact_retention !== undefined ? { artifact_retention: supported.artifact_retention } : {}),
    extensions
  }
  const unsupported = [...new Set([...required, ...(offered.required ?? [])])].filter((name) =>
    isFeatureFlag(name) ? capabilities[name] !== true : !extensions.includes(name)
  )
  return { capabilities: shared(capabilities), unsupported }
}

/** How many distinct negotiated capability sets are kept to be shared (clients mostly offer the same few). */
const SHARED_SETS = 64
const sharedSets = new Map<string, Capabilities>()

/**
 * One object per distinct capability set: a session keeps its negotiated set for its life, and most sessions'
 * are alike (~1 KB each of an idle session's memory, issue 12). Sets are never changed once negotiated.
 */
const shared = (capabilities: Capabilities): Capabilities => {
  const key = JSON.stringify(capabilities)
  const known = sharedSets.get(key)
  if (known !== undefined) return known
  if (sharedSets.size >= SHARED_SETS) sharedSets.clear()
  sharedSets.set(key, capabilities)
  return capabilities
}

/** Reads a flag with the §7 rule: absent means false. */
export const has = (capabilities: Capabilities, flag: FeatureFlag): boolean => capabilities[flag] === true
