/**
 * How the dashboard's `Model` changes: one `apply` per message received (its own session's traffic and the
 * envelopes its §13 subscription delivers, unwrapped from `subscribe.event`), and what the page itself did
 * (its own session, an answered question, a job it invoked). Every collection stays within `LIMITS`.
 */
import { Either } from "effect"
import { decode, type Decoded, isCore, type Message, type PayloadOf } from "../../protocol/Message.js"
import type { ArtifactRef } from "../../protocol/messages/Artifacts.js"
import type { JobState } from "../../protocol/messages/Common.js"
import { BACKFILL_COMPLETE } from "../../protocol/messages/Subscriptions.js"
import {
  isTerminal,
  type JobView,
  LIMITS,
  type Model,
  type SessionView,
  type StreamView,
  type TimelineEntry
} from "./Model.js"

/**
 * Drops the oldest entries of a map past `limit` (maps iterate in insertion order), those `keep` spares
 * last: the bound holds even when every entry would be kept.
 */
const bound = <K, V>(map: Map<K, V>, limit: number, keep: (v: V) => boolean = () => false) => {
  if (map.size <= limit) return
  for (const [key, value] of map) {
    if (map.size <= limit) return
    if (!keep(value)) map.delete(key)
  }
  for (const key of map.keys()) {
    if (map.size <= limit) return
    map.delete(key)
  }
}

const push = <A>(list: Array<A>, item: A, limit: number) => {
  list.push(item)
  if (list.length > limit) list.splice(0, list.length - limit)
}

const clip = (text: string, max = 160) => (text.length <= max ? text : `${text.slice(0, max - 1)}…`)

/** One line saying what a message is about, for timelines. */
export const summarize = (m: Decoded): string => {
  if (!isCore(m)) return clip(JSON.stringify(m.payload))
  switch (m.type) {
    case "job.progress":
      return [m.payload.percent !== undefined ? `${m.payload.percent}%` : "", m.payload.message ?? ""].join(" ").trim()
    case "job.heartbeat":
      return `#${m.payload.sequence} ${m.payload.state}`
    case "job.failed":
    case "tool.error":
    case "nack":
    case "stream.error":
      return `${m.payload.code}: ${clip(m.payload.message)}`
    case "job.completed":
      return m.payload.result_ref !== undefined ? `artifact ${m.payload.result_ref.artifact_id}` : clip(
        JSON.stringify(m.payload.result) ?? ""
      )
    case "job.cancelled":
      return m.payload.reason ?? m.payload.source ?? ""
    case "log":
      return `${m.payload.level}: ${clip(m.payload.message)}`
    case "metric":
      return `${m.payload.name} = ${m.payload.value} ${m.payload.unit}`
    case "stream.chunk":
      return m.payload.redacted === true ? "(redacted)" : clip(m.payload.data ?? m.payload.content ?? "")
    case "human.input.request":
    case "human.choice.request":
      return clip(m.payload.prompt)
    case "permission.request":
      return `${m.payload.permission} on ${m.payload.resource} (${m.payload.operation})`
    case "event.emit":
      return m.payload.name
    default:
      return ""
  }
}

const jobOf = (model: Model, id: string, sessionId: string | undefined): JobView => {
  const known = model.jobs.get(id)
  if (known !== undefined) {
    if (known.sessionId === undefined && sessionId !== undefined) known.sessionId = sessionId
    return known
  }
  const job: JobView = {
    id,
    sessionId,
    tool: undefined,
    state: "accepted",
    percent: undefined,
    progressMessage: undefined,
    acceptedAt: undefined,
    startedAt: undefined,
    endedAt: undefined,
    heartbeats: 0,
    lastHeartbeatAt: undefined,
    error: undefined,
    result: undefined,
    resultRef: undefined,
    timeline: [],
    streams: []
  }
  model.jobs.set(id, job)
  const session = sessionId === undefined ? undefined : model.sessions.get(sessionId)
  if (session !== undefined) session.jobs += 1
  // past the bound, finished jobs go first; running ones are what an operator came to see
  bound(model.jobs, LIMITS.jobs, (j) => !isTerminal(j.state))
  return job
}

const sessionOf = (model: Model, id: string, at: string): SessionView => {
  const known = model.sessions.get(id)
  if (known !== undefined) {
    known.lastSeen = at
    return known
  }
  const session: SessionView = {
    id,
    principal: undefined,
    transport: undefined,
    capabilities: undefined,
    leaseExpiresAt: undefined,
    trustLevel: undefined,
    own: id === model.ownSessionId,
    firstSeen: at,
    lastSeen: at,
    jobs: 0,
    closed: false
  }
  model.sessions.set(id, session)
  bound(model.sessions, LIMITS.sessions, (s) => s.own)
  return session
}

const streamOf = (model: Model, id: string): StreamView => {
  const known = model.streams.get(id)
  if (known !== undefined) return known
  const stream: StreamView = {
    id,
    jobId: undefined,
    kind: "text",
    text: "",
    truncated: false,
    chunks: 0,
    thoughts: [],
    closed: false,
    error: undefined
  }
  model.streams.set(id, stream)
  bound(model.streams, LIMITS.jobs)
  return stream
}

const finish = (job: JobView, state: JobState, at: string) => {
  job.state = state
  job.endedAt = at
  if (state === "completed") job.percent = 100
}

/** Records the session the dashboard itself opened, with what only its own handshake tells. */
export const ownSession = (
  model: Model,
  accepted: PayloadOf<"session.accepted">,
  principal: string | undefined,
  at: string
): void => {
  model.ownSessionId = accepted.session_id
  const session = sessionOf(model, accepted.session_id, at)
  session.own = true
  session.principal = principal
  session.transport = "websocket"
  session.capabilities = accepted.capabilities
  session.leaseExpiresAt = accepted.lease?.expires_at
  session.trustLevel = accepted.trust_level
  model.version += 1
}

/** Applies one message: the session's own, or the envelope inside a `subscribe.event`. */
export const apply = (model: Model, message: Decoded): void => {
  if (message.type === "subscribe.event") {
    const event = message.payload["event"]
    const inner = decode(event)
    if (Either.isRight(inner)) {
      const innerMessage = inner.right
      if (innerMessage.type === "event.emit" && innerMessage.payload["name"] === BACKFILL_COMPLETE) {
        model.backfillDone = true
        model.version += 1
        return
      }
      model.lastEventId = innerMessage.id
      apply(model, innerMessage)
    }
    return
  }
  if (model.seen.has(message.id)) return
  model.seen.add(message.id)
  if (model.seen.size > LIMITS.seen) {
    for (const id of model.seen) {
      model.seen.delete(id)
      if (model.seen.size <= LIMITS.seen / 2) break
    }
  }
  model.version += 1
  const entry: TimelineEntry = { id: message.id, type: message.type, timestamp: message.timestamp, summary: "" }
  const summarized = { ...entry, summary: summarize(message) }
  push(model.events, summarized, LIMITS.events)
  const at = message.timestamp
  if (message.session_id !== undefined) sessionOf(model, message.session_id, at)
  if (!isCore(message)) return
  const jobId = message.type === "job.accepted" ? message.payload.job_id : message.job_id
  const job = jobId === undefined ? undefined : jobOf(model, jobId, message.session_id)
  if (job !== undefined) push(job.timeline, summarized, LIMITS.timeline)
  foldCore(model, message, job, at)
}

const foldCore = (model: Model, message: Message, job: JobView | undefined, at: string): void => {
  switch (message.type) {
    case "session.accepted": {
      const session = sessionOf(model, message.payload.session_id, at)
      session.capabilities = message.payload.capabilities
      session.leaseExpiresAt = message.payload.lease?.expires_at
      session.trustLevel = message.payload.trust_level
      return
    }
    case "session.evicted":
    case "session.close":
      if (message.session_id !== undefined) sessionOf(model, message.session_id, at).closed = true
      return
    case "job.accepted":
      if (job !== undefined) job.acceptedAt = message.payload.accepted_at
      return
    case "job.started":
      if (job !== undefined) {
        job.startedAt = message.payload.started_at
        if (!isTerminal(job.state)) job.state = "running"
      }
      return
    case "job.progress":
      if (job !== undefined) {
        const { current, message: text, percent, total } = message.payload
        job.percent = percent ?? (current !== undefined && total !== undefined && total > 0
          ? Math.min(100, (current / total) * 100)
          : job.percent)
        job.progressMessage = text ?? job.progressMessage
        if (job.state === "accepted" || job.state === "queued") job.state = "running"
      }
      return
    case "job.heartbeat":
      if (job !== undefined) {
        job.heartbeats += 1
        job.lastHeartbeatAt = at
        if (!isTerminal(job.state)) job.state = message.payload.state
      }
      return
    case "job.completed":
      if (job !== undefined) {
        finish(job, "completed", at)
        job.result = message.payload.result
        job.resultRef = message.payload.result_ref
        if (message.payload.result_ref !== undefined) addArtifact(model, message.payload.result_ref, job.id)
      }
      dropPendingOf(model, job)
      return
    // the invoking session hears its job's end as tool.result / tool.error (§10); observers as job.*
    case "tool.result":
      if (job !== undefined && !isTerminal(job.state)) {
        finish(job, "completed", at)
        job.result = message.payload.value
        job.resultRef = message.payload.result_ref
        if (message.payload.result_ref !== undefined) addArtifact(model, message.payload.result_ref, job.id)
      }
      dropPendingOf(model, job)
      return
    case "tool.error":
      if (job !== undefined && !isTerminal(job.state)) {
        finish(job, message.payload.code === "CANCELLED" ? "cancelled" : "failed", at)
        job.error = { code: message.payload.code, message: message.payload.message }
      }
      dropPendingOf(model, job)
      return
    case "job.failed":
      if (job !== undefined) {
        finish(job, "failed", at)
        job.error = { code: message.payload.code, message: message.payload.message }
      }
      dropPendingOf(model, job)
      return
    case "job.cancelled":
      if (job !== undefined) finish(job, "cancelled", at)
      dropPendingOf(model, job)
      return
    case "stream.open": {
      const stream = streamOf(model, message.stream_id ?? message.id)
      stream.kind = message.payload.kind
      stream.jobId = message.payload.related_job_id ?? job?.id
      const owner = stream.jobId === undefined ? undefined : model.jobs.get(stream.jobId)
      if (owner !== undefined && !owner.streams.includes(stream.id)) owner.streams.push(stream.id)
      return
    }
    case "stream.chunk": {
      if (message.stream_id === undefined) return
      const stream = streamOf(model, message.stream_id)
      stream.chunks += 1
      const { content, data, redacted, role } = message.payload
      if (stream.kind === "thought" || role !== undefined || redacted !== undefined) {
        push(stream.thoughts, { role, content, redacted: redacted === true }, LIMITS.thoughts)
      } else {
        const text = data ?? (message.payload.event !== undefined ? `${JSON.stringify(message.payload.event)}\n` : "")
        if (message.payload.encoding === "base64" || message.payload.encoding === "sidecar") {
          stream.text += `[${message.payload.size ?? "binary"} bytes]\n`
        } else {
          stream.text += text
        }
        if (stream.text.length > LIMITS.streamText) {
          stream.text = stream.text.slice(stream.text.length - LIMITS.streamText)
          stream.truncated = true
        }
      }
      return
    }
    case "stream.close":
      if (message.stream_id !== undefined) streamOf(model, message.stream_id).closed = true
      return
    case "stream.error":
      if (message.stream_id !== undefined) {
        const stream = streamOf(model, message.stream_id)
        stream.closed = true
        stream.error = { code: message.payload.code, message: message.payload.message }
      }
      return
    case "metric": {
      const series = model.metrics.get(message.payload.name) ?? []
      push(series, { at, value: message.payload.value }, LIMITS.metricPoints)
      model.metrics.set(message.payload.name, series)
      return
    }
    case "artifact.ref":
      addArtifact(model, message.payload, job?.id)
      return
    case "human.input.request":
      model.pending.set(message.id, { kind: "input", message })
      if (job !== undefined && !isTerminal(job.state)) job.state = "blocked"
      return
    case "human.choice.request":
      model.pending.set(message.id, { kind: "choice", message })
      if (job !== undefined && !isTerminal(job.state)) job.state = "blocked"
      return
    case "permission.request":
      model.pending.set(message.id, { kind: "permission", message })
      return
    case "human.input.response":
    case "human.choice.response":
    case "human.input.cancelled":
    case "permission.grant":
    case "permission.deny":
      if (message.correlation_id !== undefined) model.pending.delete(message.correlation_id)
      if (job !== undefined && job.state === "blocked") job.state = "running"
      return
    default:
      return
  }
}

const addArtifact = (model: Model, ref: ArtifactRef, jobId: string | undefined) => {
  model.artifacts.set(ref.artifact_id, { ...ref, jobId })
  bound(model.artifacts, LIMITS.artifacts)
}

/** A finished job asks nothing more. */
const dropPendingOf = (model: Model, job: JobView | undefined) => {
  if (job === undefined) return
  for (const [id, pending] of model.pending) {
    if (pending.message.job_id === job.id) model.pending.delete(id)
  }
}

/** Removes a question once answered from this page (the runtime's ack is the proof it was taken). */
export const answered = (model: Model, requestId: string): void => {
  if (model.pending.delete(requestId)) model.version += 1
}

/** Records the tool a job of this page runs (its `tool.invoke` is the page's own; no event repeats it). */
export const invoked = (model: Model, jobId: string, tool: string): void => {
  const job = jobOf(model, jobId, model.ownSessionId)
  job.tool = tool
  model.version += 1
}
