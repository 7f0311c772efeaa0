/** The job states of RFC §10.2 and their legal transitions. */
import type { JobState } from "../../protocol/messages/Common.js"

const legal: Readonly<Record<JobState, ReadonlyArray<JobState>>> = {
  accepted: ["queued", "running", "cancelled", "failed"],
  queued: ["running", "cancelled", "failed"],
  running: ["blocked", "paused", "completed", "failed", "cancelled"],
  // pausing is cooperative: a handler may finish without reaching a pause point
  blocked: ["running", "completed", "failed", "cancelled"],
  paused: ["running", "cancelled", "failed"],
  completed: [],
  failed: [],
  cancelled: []
}

/** True when `to` may follow `from`. */
export const canTransition = (from: JobState, to: JobState): boolean => legal[from].includes(to)

/** True for the three terminal states. */
export const isTerminal = (state: JobState): boolean => legal[state].length === 0
