/**
 * Tool calls into `ToolContext` as spans (§17.1): each call a handler makes
 * (progress, log, a stream opened, a human asked, a permission, an artifact,
 * a delegation...) is a child span of the job's, and the events it sends are
 * children of that call. Liveness and pause points are not traced (too
 * frequent to be worth a span).
 */
import type { ToolContext } from "../Tools.js"
import { traced } from "./Spans.js"

const call = (name: string) => traced(`arcp tool.${name}`)

/** `ctx` with each traced call wrapped in its span. */
export const tracedContext = (ctx: ToolContext): ToolContext => ({
  jobId: ctx.jobId,
  sessionId: ctx.sessionId,
  principal: ctx.principal,
  get attempt() {
    return ctx.attempt
  },
  progress: (p) => call("progress")(ctx.progress(p)),
  log: (level, message, attributes) => call("log")(ctx.log(level, message, attributes)),
  metric: (name, value, unit, dims) => call("metric")(ctx.metric(name, value, unit, dims)),
  heartbeat: ctx.heartbeat,
  checkpoint: (snapshot) => call("checkpoint")(ctx.checkpoint(snapshot)),
  pausePoint: ctx.pausePoint,
  stream: (options) => call("stream")(ctx.stream(options)),
  askHuman: (request) => call("ask_human")(ctx.askHuman(request)),
  askChoice: (request) => call("ask_choice")(ctx.askChoice(request)),
  requestPermission: (request) => call("request_permission")(ctx.requestPermission(request)),
  checkLease: (leaseId) => call("check_lease")(ctx.checkLease(leaseId)),
  putArtifact: (data, mediaType, options) => call("put_artifact")(ctx.putArtifact(data, mediaType, options)),
  delegate: (request) => call("delegate")(ctx.delegate(request))
})
