/**
 * The extension mechanism (RFC §21): namespace rules for extension types,
 * fields, metric names and codes, and the §21.3 unknown-type classifier.
 */
import { Either } from "effect"

/**
 * First labels of the core message types. A type starting with one of these is
 * "core-prefixed": if we do not know it we answer UNIMPLEMENTED (§21.3).
 */
export const corePrefixes: ReadonlySet<string> = new Set([
  "session",
  "ping",
  "pong",
  "ack",
  "nack",
  "cancel",
  "interrupt",
  "resume",
  "backpressure",
  "checkpoint",
  "tool",
  "job",
  "workflow",
  "agent",
  "stream",
  "human",
  "permission",
  "lease",
  "subscribe",
  "unsubscribe",
  "artifact",
  "event",
  "log",
  "metric",
  "trace"
])

const LABEL = /^[A-Za-z0-9_][A-Za-z0-9_-]*$/
const TLD = /^[a-z][a-z0-9-]{1,62}$/
const VERSION = /^v[0-9]+$/

const labelsOf = (name: string): ReadonlyArray<string> | undefined => {
  if (name.length === 0 || name.length > 256) return undefined
  const labels = name.split(".")
  return labels.every((l) => LABEL.test(l)) ? labels : undefined
}

/** `arcpx.<vendor>.<...>`: the recommended community/vendor namespace (§21.1). */
export const isArcpxName = (name: string): boolean => {
  const labels = labelsOf(name)
  return labels !== undefined && labels.length >= 3 && labels[0] === "arcpx"
}

/** Reverse-DNS names such as `com.acme.workflow.v2` (§21.1): three labels or more, not core-prefixed. */
export const isReverseDnsName = (name: string): boolean => {
  const labels = labelsOf(name)
  if (labels === undefined || labels.length < 3) return false
  const first = labels[0] ?? ""
  return TLD.test(first) && first !== "arcpx" && !corePrefixes.has(first)
}

/** True for a namespaced name (either form). Used for extension fields, metric names and codes. */
export const isNamespaced = (name: string): boolean => isArcpxName(name) || isReverseDnsName(name)

/** True for a versioned extension name (`arcpx.example.v1`, `com.acme.workflow.v2`): what `capabilities.extensions` lists. */
export const isExtensionName = (name: string): boolean =>
  isNamespaced(name) && VERSION.test(name.slice(name.lastIndexOf(".") + 1))

/**
 * True for an extension message type: namespaced, with a version label after
 * the namespace (`arcpx.acme.deploy.v1`, or one of its sub-types `arcpx.acme.deploy.v1.started`).
 */
export const isExtensionType = (type: string): boolean =>
  isNamespaced(type) && type.split(".").slice(2).some((l) => VERSION.test(l))

/** The bare `x-` prefix: transport-internal experiments only (§21.1). */
export const isExperimental = (name: string): boolean => name.startsWith("x-")

/** True when `type`'s first label is a core prefix. */
export const isCorePrefixed = (type: string): boolean => corePrefixes.has(type.split(".", 1)[0] ?? "")

/** How strict to be about experimental names: long-lived deployments must refuse `x-` (§21.1). */
export interface NamePolicy {
  readonly allowExperimental?: boolean | undefined
}

/** Validates an extension *field* key (envelope `extensions` object). `optional` is the §21.3 flag itself. */
export const validateFieldName = (name: string, policy: NamePolicy = {}): Either.Either<string, string> => {
  if (name === "optional") return Either.right(name)
  if (isExperimental(name)) {
    return policy.allowExperimental === true
      ? Either.right(name)
      : Either.left(`"${name}": the bare x- prefix is for transport-internal experiments and is refused here`)
  }
  return isNamespaced(name)
    ? Either.right(name)
    : Either.left(`"${name}" is not namespaced (use arcpx.<vendor>.<name>.v<n> or reverse-DNS)`)
}

/** Validates a name listed in `capabilities.extensions`. */
export const validateExtensionName = (name: string, policy: NamePolicy = {}): Either.Either<string, string> => {
  if (isExperimental(name)) {
    return policy.allowExperimental === true
      ? Either.right(name)
      : Either.left(`"${name}": the bare x- prefix is refused in long-lived deployments`)
  }
  return isExtensionName(name)
    ? Either.right(name)
    : Either.left(`"${name}" is not an extension name (arcpx.<vendor>.<name>.v<n> or reverse-DNS with a version)`)
}

/** True when `type` belongs to one of the advertised extensions (equal to it, or a sub-type of it). */
export const isAdvertised = (type: string, advertised: ReadonlyArray<string>): boolean =>
  advertised.some((ext) => type === ext || type.startsWith(`${ext}.`))

/** What a receiver does with a message whose type it does not know as core (§21.3). */
export type UnknownTypeDecision =
  | { readonly _tag: "Route" } // an advertised extension: hand it to its handler
  | { readonly _tag: "Drop" } // namespaced, not advertised, sender marked it optional
  | { readonly _tag: "Nack"; readonly code: "UNIMPLEMENTED" | "INVALID_ARGUMENT"; readonly message: string }

/**
 * Classifies a type that is not a known core type (§21.3): core-prefixed →
 * nack UNIMPLEMENTED; namespaced and advertised → route; namespaced and not
 * advertised → drop only if `extensions.optional === true`, else nack
 * UNIMPLEMENTED; anything else is malformed → nack INVALID_ARGUMENT.
 */
export const classifyUnknownType = (
  type: string,
  context: { readonly advertised: ReadonlyArray<string>; readonly optional: boolean }
): UnknownTypeDecision => {
  if (isCorePrefixed(type)) {
    return { _tag: "Nack", code: "UNIMPLEMENTED", message: `message type "${type}" is not implemented` }
  }
  if (isExtensionType(type)) {
    if (isAdvertised(type, context.advertised)) return { _tag: "Route" }
    return context.optional
      ? { _tag: "Drop" }
      : { _tag: "Nack", code: "UNIMPLEMENTED", message: `extension type "${type}" was not negotiated` }
  }
  return {
    _tag: "Nack",
    code: "INVALID_ARGUMENT",
    message: `message type "${type}" is neither a core type nor a namespaced extension type`
  }
}
