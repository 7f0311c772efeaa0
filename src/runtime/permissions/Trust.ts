/**
 * Trust levels (RFC §15.3) and elevation (§15.6): the order of the four
 * levels, a session's level from its credentials, and the synthetic
 * `trust.elevate.<level>` permission.
 */
import { TrustLevel } from "../../protocol/messages/Common.js"

export { TrustLevel }

/** The levels from least to most trusted. */
export const levels: ReadonlyArray<TrustLevel> = ["untrusted", "constrained", "trusted", "privileged"]

/** Whether `level` is at least `minimum`. */
export const atLeast = (level: TrustLevel, minimum: TrustLevel): boolean =>
  levels.indexOf(level) >= levels.indexOf(minimum)

/** A string as a trust level, when it names one. */
export const parse = (value: unknown): TrustLevel | undefined => levels.find((l) => l === value)

/** The prefix of the synthetic elevation permission (§15.6). */
export const ELEVATE = "trust.elevate."

/** The level `trust.elevate.<level>` elevates to; undefined for any other permission. */
export const elevationTarget = (permission: string): TrustLevel | undefined =>
  permission.startsWith(ELEVATE) ? parse(permission.slice(ELEVATE.length)) : undefined

/**
 * A session's trust level (§15.3): what its credentials say (a bearer table
 * entry, a JWT claim), else untrusted for anonymous sessions, else the
 * operator's default.
 */
export const trustOf = (
  principal: { readonly scheme: string; readonly trustLevel?: TrustLevel | undefined },
  settings: { readonly defaultTrustLevel: TrustLevel }
): TrustLevel => principal.trustLevel ?? (principal.scheme === "none" ? "untrusted" : settings.defaultTrustLevel)
