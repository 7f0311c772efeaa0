/**
 * Subscription filters (RFC §13.2) as a predicate over envelopes: fields
 * AND-ed, the values of one field OR-ed, `min_priority` by rank, and our
 * `exclude_kinds` (§11.4: an observer may leave thought streams out).
 */
import { type Priority, priorityOf, priorityRank } from "../../protocol/Envelope.js"
import { effectiveKind } from "../../protocol/messages/Streaming.js"
import type { SubscriptionFilter } from "../../protocol/messages/Subscriptions.js"

/** The envelope fields a filter reads (a decoded envelope, or a stored one with its payload). */
export interface Filterable {
  readonly type: string
  readonly session_id?: string | undefined
  readonly job_id?: string | undefined
  readonly stream_id?: string | undefined
  readonly trace_id?: string | undefined
  readonly priority?: Priority | undefined
  readonly payload?: unknown
}

const STREAM_TYPES: ReadonlySet<string> = new Set(["stream.open", "stream.chunk", "stream.close", "stream.error"])

/** How many stream kinds a matcher remembers (oldest forgotten first): enough for the streams live at once. */
const REMEMBERED_STREAMS = 4096

const within = (values: ReadonlyArray<string> | undefined, value: string | undefined): boolean =>
  values === undefined || (value !== undefined && values.includes(value))

/** Whether the header fields of `envelope` pass `filter` (everything but `exclude_kinds`). */
export const matchesHeader = (filter: SubscriptionFilter, envelope: Filterable): boolean =>
  within(filter.session_id, envelope.session_id) &&
  within(filter.job_id, envelope.job_id) &&
  within(filter.stream_id, envelope.stream_id) &&
  within(filter.trace_id, envelope.trace_id) &&
  within(filter.types, envelope.type) &&
  (filter.min_priority === undefined || priorityRank(priorityOf(envelope)) >= priorityRank(filter.min_priority))

const field = (payload: unknown, key: string): unknown =>
  typeof payload === "object" && payload !== null ? Reflect.get(payload, key) : undefined

/**
 * The stream kind an envelope shows by itself: `stream.open` declares it, and a
 * thought chunk is recognisable by its structured body (§11.4: `role`, `content`).
 */
export const kindShown = (envelope: Filterable): string | undefined => {
  if (envelope.type === "stream.open") {
    const kind = field(envelope.payload, "kind")
    return typeof kind === "string" ? effectiveKind(kind) : undefined
  }
  if (envelope.type === "stream.chunk" && typeof field(envelope.payload, "role") === "string") {
    return typeof field(envelope.payload, "content") === "string" ? "thought" : undefined
  }
  return undefined
}

/** A filter with memory: the stream kinds it has seen, so a stream's chunks and terminal follow its open. */
export interface Matcher {
  readonly matches: (envelope: Filterable) => boolean
}

/**
 * Makes the predicate of one subscription. `kindOf` names the kind of a stream
 * opened before the matcher saw it (a live registry), when it knows.
 */
export const make = (
  filter: SubscriptionFilter,
  kindOf: (streamId: string) => string | undefined = () => undefined
): Matcher => {
  const excluded = filter.exclude_kinds
  const kinds = new Map<string, string>()
  const learn = (streamId: string, kind: string) => {
    kinds.set(streamId, kind)
    for (const oldest of kinds.keys()) {
      if (kinds.size <= REMEMBERED_STREAMS) break
      kinds.delete(oldest)
    }
  }
  const kindOfStream = (envelope: Filterable): string | undefined => {
    const id = envelope.stream_id
    const shown = kindShown(envelope)
    if (id === undefined) return shown
    if (shown !== undefined) {
      learn(id, shown)
      return shown
    }
    const known = kinds.get(id) ?? kindOf(id)
    if (known !== undefined) learn(id, known)
    return known
  }
  return {
    matches: (envelope) => {
      if (!matchesHeader(filter, envelope)) return false
      if (excluded === undefined || excluded.length === 0 || !STREAM_TYPES.has(envelope.type)) return true
      const kind = kindOfStream(envelope)
      return kind === undefined || !excluded.includes(kind)
    }
  }
}
