/**
 * Who may observe whose sessions (RFC §13.1, §13.2): a principal observes its
 * own sessions; an operator grants wider observation per principal (a bearer
 * entry's `--observer`, a JWT's `arcp_observe` claim).
 */

/** The principals whose sessions a principal may observe besides its own: all (`"*"`) or those listed. */
export type ObserveGrant = "*" | ReadonlyArray<string>

/** The asking side of a read: its principal and what it was granted. */
export interface Viewer {
  readonly principal: string
  readonly observes?: ObserveGrant | undefined
}

/** The JWT claim carrying an observe grant: `"*"` or an array of principal ids. */
export const OBSERVE_CLAIM = "arcp_observe"

/** Whether `viewer` may see the events of a session that belongs to `owner`. */
export const canObserve = (viewer: Viewer, owner: string): boolean =>
  owner === viewer.principal ||
  viewer.observes === "*" ||
  (viewer.observes !== undefined && viewer.observes.includes(owner))

/** Whether `viewer` may see more than its own sessions (it then needs no session or job named). */
export const isObserver = (viewer: Viewer): boolean =>
  viewer.observes === "*" || (viewer.observes !== undefined && viewer.observes.length > 0)

/** Reads an observe grant from a JWT claim value; anything but `"*"` or an array of strings grants nothing. */
export const parseClaim = (value: unknown): ObserveGrant | undefined => {
  if (value === "*") return "*"
  if (Array.isArray(value) && value.every((v): v is string => typeof v === "string" && v !== "")) return value
  return undefined
}

/**
 * Parses a `--observer PRINCIPAL[=OWNER,OWNER...]` entry: without a list the
 * principal observes every session; with one, those owners' sessions.
 */
export const parseFlag = (entry: string): readonly [string, ObserveGrant] | string => {
  const eq = entry.indexOf("=")
  const principal = (eq < 0 ? entry : entry.slice(0, eq)).trim()
  if (principal === "") return `--observer expects PRINCIPAL or PRINCIPAL=OWNER,OWNER, got "${entry}"`
  if (eq < 0) return [principal, "*"]
  const owners = entry.slice(eq + 1).split(",").map((s) => s.trim()).filter((s) => s !== "")
  if (owners.length === 0) return `--observer ${principal}= names no principal to observe`
  return [principal, owners.includes("*") ? "*" : owners]
}
