/** Execution messages (RFC §6.3, §10, §14): tool invocation, job lifecycle, schedules, workflows, agents. */
import { Schema } from "effect"
import { errorFields } from "../Errors.js"
import { CheckpointId, JobId, SessionId } from "../Ids.js"
import { Timestamp } from "../Timestamp.js"
import { ArtifactRef } from "./Artifacts.js"
import { atMostOneOf, JobState, JsonObject, JsonValue, NonEmptyString, NonNegativeInt } from "./Common.js"

export const ToolInvoke = Schema.Struct({ tool: NonEmptyString, arguments: Schema.optional(JsonObject) })

/** `value` or `result_ref`, never both. */
export const ToolResult = Schema.Struct({
  value: Schema.optional(JsonValue),
  result_ref: Schema.optional(ArtifactRef)
}).pipe(Schema.filter(atMostOneOf("value", "result_ref")))

export const ToolError = Schema.Struct(errorFields)

export const JobAccepted = Schema.Struct({ job_id: JobId, accepted_at: Timestamp })

/** `checkpoint_id`: a job started again after a restart names the checkpoint it continues from (docs/decisions.md). */
export const JobStarted = Schema.Struct({
  job_id: JobId,
  started_at: Timestamp,
  checkpoint_id: Schema.optional(CheckpointId)
})

export const JobProgress = Schema.Struct({
  percent: Schema.optional(Schema.Number.pipe(Schema.between(0, 100))),
  message: Schema.optional(Schema.String),
  current: Schema.optional(Schema.Number.pipe(Schema.nonNegative())),
  total: Schema.optional(Schema.Number.pipe(Schema.nonNegative()))
})

/** §10.3: the deadline is when the next heartbeat is due. */
export const JobHeartbeat = Schema.Struct({
  sequence: NonNegativeInt,
  deadline_ms: Schema.Number.pipe(Schema.int(), Schema.positive()),
  state: JobState
})

export const JobCheckpoint = Schema.Struct({ checkpoint_id: CheckpointId, snapshot: Schema.optional(JsonValue) })

export const JobCompleted = Schema.Struct({
  result: Schema.optional(JsonValue),
  result_ref: Schema.optional(ArtifactRef)
}).pipe(Schema.filter(atMostOneOf("result", "result_ref")))

export const JobFailed = Schema.Struct(errorFields)

export const JobCancelled = Schema.Struct({
  reason: Schema.optional(Schema.String),
  source: Schema.optional(Schema.Literal("client", "runtime", "policy", "timeout"))
})

const FREQUENCIES = ["SECONDLY", "MINUTELY", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY"]
const RRULE_PARTS = new Set([
  "FREQ",
  "UNTIL",
  "COUNT",
  "INTERVAL",
  "BYSECOND",
  "BYMINUTE",
  "BYHOUR",
  "BYDAY",
  "BYMONTHDAY",
  "BYYEARDAY",
  "BYWEEKNO",
  "BYMONTH",
  "BYSETPOS",
  "WKST"
])

/**
 * The structure of an RFC 5545 §3.3.10 recurrence rule (an optional `RRULE:` prefix, then
 * `NAME=VALUE` parts): known part names, each once, a valid `FREQ`, positive `COUNT` and
 * `INTERVAL`, not both `COUNT` and `UNTIL`. Part values are not parsed further.
 */
const checkRuleLine = (rule: string): true | string => {
  const parts = rule.replace(/^RRULE:/i, "").split(";").map((p) => p.split("="))
  const seen = new Map<string, string>()
  for (const [name = "", value, ...extra] of parts) {
    const key = name.toUpperCase()
    if (!RRULE_PARTS.has(key) || value === undefined || value === "" || extra.length > 0) {
      return `"${name}" is not an RRULE part`
    }
    if (seen.has(key)) return `${key} appears twice`
    seen.set(key, value)
  }
  const freq = seen.get("FREQ")
  if (freq === undefined || !FREQUENCIES.includes(freq.toUpperCase())) {
    return `FREQ must be one of ${FREQUENCIES.join(", ")}`
  }
  for (const key of ["COUNT", "INTERVAL"]) {
    const v = seen.get(key)
    if (v !== undefined && !/^[1-9][0-9]*$/.test(v)) return `${key} must be a positive integer`
  }
  return !(seen.has("COUNT") && seen.has("UNTIL")) || "COUNT and UNTIL must not both be set"
}

/** `DTSTART:20260101T060000Z`, `DTSTART:20260101T060000` (floating: UTC) or `DTSTART;TZID=Europe/Paris:20260101T060000`. */
const DTSTART = /^DTSTART(;TZID=[A-Za-z0-9_+\-/]+)?:[0-9]{8}T[0-9]{6}Z?$/i

/**
 * The structure of an RFC 5545 recurrence: a rule line (see `checkRuleLine`), optionally
 * with one `DTSTART` line before it (RFC 5545 §3.8.2.4, a `TZID` parameter for time zones),
 * separated by a line break. The rule is expanded by the scheduler, which also refuses rules
 * that never fire or fire too often.
 */
export const checkRrule = (rule: string): true | string => {
  const lines = rule.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== "")
  const starts = lines.filter((l) => /^DTSTART[;:]/i.test(l))
  const rules = lines.filter((l) => !/^DTSTART[;:]/i.test(l))
  if (starts.length > 1) return "DTSTART appears twice"
  const start = starts[0]
  if (start !== undefined && !DTSTART.test(start)) {
    return `"${start}" is not a DTSTART line (DTSTART[;TZID=zone]:YYYYMMDDTHHMMSS[Z])`
  }
  const [line, ...more] = rules
  if (line === undefined) return "the RRULE line is missing"
  if (more.length > 0) return "only one RRULE line (and one DTSTART line) is supported"
  return checkRuleLine(line)
}

/** An RFC 5545 recurrence rule, e.g. `FREQ=DAILY;BYHOUR=6`. */
export const Rrule = Schema.String.pipe(
  Schema.filter((s) => {
    const r = checkRrule(s)
    return r === true || `Expected an RFC 5545 RRULE: ${r}`
  }, { identifier: "Rrule" })
)

/** `when` of `job.schedule` names exactly one of `at`, `every` (an RFC 5545 RRULE) or `after` (seconds) (§10.6). */
export const ScheduleWhen = Schema.Struct({
  at: Schema.optional(Timestamp),
  every: Schema.optional(Rrule),
  after: Schema.optional(Schema.Number.pipe(Schema.nonNegative()))
}).pipe(
  Schema.filter((w) =>
    [w.at, w.every, w.after].filter((v) => v !== undefined).length === 1 ||
    "exactly one of at, every, after is required"
  )
)

/** Our extension (§21) that lists a principal's schedules: `<name>.list` (payload `{}`) answered by `<name>.listed`. */
export const SCHEDULES_EXTENSION = "arcpx.arcp.schedules.v1"
export const SCHEDULES_LIST = `${SCHEDULES_EXTENSION}.list`
export const SCHEDULES_LISTED = `${SCHEDULES_EXTENSION}.listed`

/** What a schedule does with firings missed while the runtime was down: run one at start, or skip them. */
export const MissedFirings = Schema.Literal("run_once", "skip")

/** `missed` is our addition (ignored by peers; default `run_once`): see docs/decisions.md. */
export const JobSchedule = Schema.Struct({
  job: Schema.Struct({ type: NonEmptyString, payload: JsonObject }),
  when: ScheduleWhen,
  missed: Schema.optional(MissedFirings)
})

/**
 * One step of an inline workflow (our shape, docs/decisions.md): a tool and its arguments, in which any
 * `{"$from": "inputs.<path>"}` or `{"$from": "steps.<id>.output[.<path>]"}` is replaced by that value.
 */
export const WorkflowStep = Schema.Struct({
  id: NonEmptyString.pipe(Schema.pattern(/^[A-Za-z0-9_-]{1,64}$/)),
  tool: NonEmptyString,
  arguments: Schema.optional(JsonObject),
  /** What a failure of this step does: end the workflow (default) or record it and go on. */
  on_failure: Schema.optional(Schema.Literal("fail", "continue"))
})

/** `workflow` names it; `steps` (our addition, ignored by peers that do not know it) declares it inline. */
export const WorkflowStart = Schema.Struct({
  workflow: NonEmptyString,
  inputs: Schema.optional(JsonObject),
  steps: Schema.optional(Schema.Array(WorkflowStep).pipe(Schema.minItems(1), Schema.maxItems(64)))
})

export const WorkflowComplete = Schema.Struct({ outputs: Schema.optional(JsonValue) })

export const AgentDelegate = Schema.Struct({
  target: NonEmptyString,
  task: Schema.String,
  /** Our addition: the arguments the target runs with (default `{task}`). */
  arguments: Schema.optional(JsonObject),
  context: Schema.optional(
    Schema.Struct({
      trace_id: Schema.optional(Schema.String),
      shared_memory_ref: Schema.optional(Schema.String),
      permissions_inherited: Schema.optional(Schema.Array(Schema.String))
    })
  )
})

/** A handoff must name the receiving runtime (§14). */
export const AgentHandoff = Schema.Struct({
  to_runtime: Schema.Struct({
    kind: NonEmptyString,
    fingerprint: Schema.optional(Schema.String),
    version: Schema.optional(Schema.String)
  }),
  job_id: Schema.optional(JobId),
  session_id: Schema.optional(SessionId),
  reason: Schema.optional(Schema.String),
  /**
   * Our addition: the job's work itself, when a runtime hands a running job to a peer — the tool, its
   * arguments and the last checkpoint it wrote; the receiver runs it as its own job from there.
   */
  job: Schema.optional(Schema.Struct({
    tool: NonEmptyString,
    arguments: Schema.optional(JsonObject),
    checkpoint: Schema.optional(Schema.Struct({
      checkpoint_id: NonEmptyString,
      snapshot: Schema.optional(JsonValue)
    }))
  }))
})

export const payloads = {
  "tool.invoke": ToolInvoke,
  "tool.result": ToolResult,
  "tool.error": ToolError,
  "job.accepted": JobAccepted,
  "job.started": JobStarted,
  "job.progress": JobProgress,
  "job.heartbeat": JobHeartbeat,
  "job.checkpoint": JobCheckpoint,
  "job.completed": JobCompleted,
  "job.failed": JobFailed,
  "job.cancelled": JobCancelled,
  "job.schedule": JobSchedule,
  "workflow.start": WorkflowStart,
  "workflow.complete": WorkflowComplete,
  "agent.delegate": AgentDelegate,
  "agent.handoff": AgentHandoff
}
