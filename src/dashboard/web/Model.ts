/**
 * What the dashboard knows, folded from the messages it receives: its own session's traffic and the
 * envelopes its §13 subscription delivers (unwrapped from `subscribe.event`; `Fold` applies them). Pure
 * data, so it is tested without a browser. Every collection is bounded: a runtime with a thousand busy jobs
 * neither grows the page without end nor slows it.
 */
import type { Message, PayloadOf } from "../../protocol/Message.js"
import type { ArtifactRef } from "../../protocol/messages/Artifacts.js"
import type { JobState } from "../../protocol/messages/Common.js"

export const LIMITS = {
  jobs: 5000,
  timeline: 300,
  streamText: 64 * 1024,
  thoughts: 200,
  metricPoints: 120,
  sessions: 1000,
  artifacts: 500,
  seen: 20_000,
  events: 1000
}

export interface ErrorView {
  readonly code: string
  readonly message: string
}

export interface TimelineEntry {
  readonly id: string
  readonly type: string
  readonly timestamp: string
  readonly summary: string
}

export interface JobView {
  readonly id: string
  sessionId: string | undefined
  tool: string | undefined
  state: JobState
  percent: number | undefined
  progressMessage: string | undefined
  acceptedAt: string | undefined
  startedAt: string | undefined
  endedAt: string | undefined
  heartbeats: number
  lastHeartbeatAt: string | undefined
  error: ErrorView | undefined
  result: unknown
  resultRef: ArtifactRef | undefined
  readonly timeline: Array<TimelineEntry>
  readonly streams: Array<string>
}

export interface ThoughtView {
  readonly role: string | undefined
  readonly content: string | undefined
  readonly redacted: boolean
}

export interface StreamView {
  readonly id: string
  jobId: string | undefined
  kind: string
  text: string
  truncated: boolean
  chunks: number
  readonly thoughts: Array<ThoughtView>
  closed: boolean
  error: ErrorView | undefined
}

export interface SessionView {
  readonly id: string
  principal: string | undefined
  transport: string | undefined
  capabilities: PayloadOf<"session.accepted">["capabilities"] | undefined
  leaseExpiresAt: string | undefined
  trustLevel: string | undefined
  own: boolean
  firstSeen: string
  lastSeen: string
  jobs: number
  closed: boolean
}

/** A question waiting for an answer: a human input or choice request, or a permission request. */
export type PendingView =
  | { readonly kind: "input"; readonly message: Message<"human.input.request"> }
  | { readonly kind: "choice"; readonly message: Message<"human.choice.request"> }
  | { readonly kind: "permission"; readonly message: Message<"permission.request"> }

export interface MetricPoint {
  readonly at: string
  readonly value: number
}

export interface Model {
  version: number
  ownSessionId: string | undefined
  readonly jobs: Map<string, JobView>
  readonly streams: Map<string, StreamView>
  readonly sessions: Map<string, SessionView>
  readonly pending: Map<string, PendingView>
  readonly metrics: Map<string, Array<MetricPoint>>
  readonly artifacts: Map<string, ArtifactRef & { readonly jobId: string | undefined }>
  /** The most recent envelopes of any kind, newest last. */
  readonly events: Array<TimelineEntry>
  /** Ids already applied: a message seen on the session and again through the subscription counts once. */
  readonly seen: Set<string>
  /** The id of the last envelope a subscription delivered: where a new subscription resumes after a reconnect. */
  lastEventId: string | undefined
  backfillDone: boolean
}

export const empty = (): Model => ({
  version: 0,
  ownSessionId: undefined,
  jobs: new Map(),
  streams: new Map(),
  sessions: new Map(),
  pending: new Map(),
  metrics: new Map(),
  artifacts: new Map(),
  events: [],
  seen: new Set(),
  lastEventId: undefined,
  backfillDone: false
})

const terminal: ReadonlyArray<JobState> = ["completed", "failed", "cancelled"]
export const isTerminal = (state: JobState): boolean => terminal.includes(state)

/** Jobs newest first, optionally narrowed to a state group. */
export const jobList = (model: Model, filter: "all" | "active" | "waiting" | "done"): Array<JobView> => {
  const all = [...model.jobs.values()].reverse()
  switch (filter) {
    case "all":
      return all
    case "active":
      return all.filter((j) => !isTerminal(j.state))
    case "waiting":
      return all.filter((j) => j.state === "blocked")
    case "done":
      return all.filter((j) => isTerminal(j.state))
  }
}
