/** How `arcp tail` prints one observed event for a person: one line, time, type, ids, the gist of the payload. */
import type { Decoded } from "../protocol/Message.js"

/** Payloads are cut to this many characters: one event, one line. */
const MAX_GIST = 160

const get = (payload: unknown, key: string): unknown =>
  typeof payload === "object" && payload !== null ? Reflect.get(payload, key) : undefined

const text = (value: unknown): string | undefined =>
  value === undefined ? undefined : typeof value === "string" ? value : JSON.stringify(value)

const cut = (s: string): string => {
  const line = s.replace(/\s+/g, " ").trim()
  return line.length <= MAX_GIST ? line : `${line.slice(0, MAX_GIST - 1)}…`
}

/** The part of a payload worth a glance, by type. */
export const gist = (event: Decoded): string => {
  const p = event.payload
  const code = text(get(p, "code"))
  const message = text(get(p, "message"))
  switch (event.type) {
    case "job.progress": {
      const current = get(p, "current")
      const total = get(p, "total")
      const percent = get(p, "percent")
      const parts = [
        current !== undefined && total !== undefined ? `${text(current)}/${text(total)}` : undefined,
        percent !== undefined ? `${text(percent)}%` : undefined,
        message
      ]
      return parts.filter((x) => x !== undefined).join(" ")
    }
    case "stream.open":
      return `kind=${text(get(p, "kind")) ?? "?"}`
    case "stream.chunk": {
      const redacted = get(p, "redacted") === true
      const body = text(get(p, "content")) ?? text(get(p, "data")) ?? text(get(p, "log")) ??
        text(get(p, "event")) ?? text(get(p, "metric")) ?? ""
      return `#${text(get(p, "sequence")) ?? "?"} ${redacted ? "[redacted] " : ""}${JSON.stringify(cut(body))}`
    }
    case "log":
      return `${text(get(p, "level")) ?? "info"} ${message ?? ""}`
    case "metric":
      return `${text(get(p, "name")) ?? "?"}=${text(get(p, "value")) ?? "?"}${text(get(p, "unit")) ?? ""}`
    case "tool.result":
    case "job.completed":
      return text(get(p, "value")) ?? text(get(p, "result")) ?? text(get(p, "result_ref")) ?? ""
    case "human.input.request":
    case "human.choice.request":
      return `"${text(get(p, "prompt")) ?? ""}"`
    case "human.input.response":
    case "human.choice.response":
      return `${text(get(p, "value")) ?? text(get(p, "choice_id")) ?? ""} by ${text(get(p, "responded_by")) ?? "?"}`
    case "event.emit":
      return `${text(get(p, "name")) ?? "?"}${get(p, "data") !== undefined ? ` ${text(get(p, "data"))}` : ""}`
    default:
      return code !== undefined ? `${code}${message !== undefined ? `: ${message}` : ""}` : text(p) ?? ""
  }
}

/** The clock time of an RFC 3339 timestamp (`HH:MM:SS.mmm`), or the string as it came. */
const clock = (timestamp: string): string => /T(\d\d:\d\d:\d\d(?:\.\d{1,3})?)/.exec(timestamp)?.[1] ?? timestamp

/** One line: `12:00:01.250 job.progress job=job_1 3/10 30%`. */
export const line = (event: Decoded): string => {
  const ids = [
    event.session_id !== undefined ? `session=${event.session_id}` : undefined,
    event.job_id !== undefined ? `job=${event.job_id}` : undefined,
    event.stream_id !== undefined ? `stream=${event.stream_id}` : undefined
  ].filter((x) => x !== undefined)
  return [clock(event.timestamp), event.type, ...ids, cut(gist(event))].filter((x) => x !== "").join(" ")
}

/** What a person sees at the end of the backfill. */
export const BACKFILL_LINE = "--- end of backfill; live from here ---"
