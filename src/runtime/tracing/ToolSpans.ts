/**
 * Tool calls into `ToolContext` as spans (§17.1): each call a handler makes
 * (progress, log, a stream opened, a human asked, a permission, an artifact,
 * a delegation...) is a child span of the job's, and the events it sends are
 * children of that call. Progress, log, metric, checkpoints, liveness and pause
 * points are not (too frequent to be worth a span each: their events are the job's).
 */
import type { ToolContext } from "../Tools.js"
import { traced } from "./Spans.js"

const call = (name: string) => traced(`arcp tool.${name}`)

/** `ctx` with each traced call wrapped in its span. */
export const tracedContext = (ctx: ToolContext): ToolContext => ({
  // everything passes through as it is (so a field added to ToolContext cannot be lost here); only the
  // calls worth a span are wrapped. Per-event calls (progress, log, metric, checkpoint) are not spans: a span
  // each cost a tenth of a 20k-event flood (their events hang off the job's span); a tool may checkpoint at
  // every step, as `ticker` does (issue 12).
  ...ctx,
  stream: (options) => call("stream")(ctx.stream(options)),
  askHuman: (request) => call("ask_human")(ctx.askHuman(request)),
  askChoice: (request) => call("ask_choice")(ctx.askChoice(request)),
  requestPermission: (request) => call("request_permission")(ctx.requestPermission(request)),
  checkLease: (leaseId) => call("check_lease")(ctx.checkLease(leaseId)),
  putArtifact: (data, mediaType, options) => call("put_artifact")(ctx.putArtifact(data, mediaType, options)),
  delegate: (request) => call("delegate")(ctx.delegate(request))
})
