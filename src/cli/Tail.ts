/**
 * `arcp tail`: a live, filtered view of a runtime through a subscription (RFC §13): one line per
 * event (or the envelope as JSON with --json), from --since's backfill on, until interrupted.
 */
import { Command, Options } from "@effect/cli"
import { Console, Effect, Option, Stream } from "effect"
import { isBackfillComplete } from "../client/session/Subscription.js"
import { priorities } from "../protocol/Envelope.js"
import { encodeUnchecked } from "../protocol/Message.js"
import type { SubscriptionFilter } from "../protocol/messages/Subscriptions.js"
import * as Connect from "./Connect.js"
import { setExitCode } from "./Failure.js"
import { BACKFILL_LINE, line } from "./TailFormat.js"

const list = (name: string, description: string) =>
  Options.text(name).pipe(Options.repeated, Options.withDescription(`${description}; comma-separated or repeated`))

const options = {
  ...Connect.options("arcp-cli"),
  session: list("session", "only events of these sessions"),
  job: list("job", "only events of these jobs"),
  trace: list("trace", "only events of these traces"),
  types: list("types", "only these message types (e.g. job.progress,stream.chunk)"),
  minPriority: Options.choice("min-priority", priorities).pipe(
    Options.optional,
    Options.withDescription("only events of this priority and above")
  ),
  noThoughts: Options.boolean("no-thoughts").pipe(
    Options.withDescription("leave out thought (reasoning) streams (§11.4)")
  ),
  since: Options.text("since").pipe(
    Options.optional,
    Options.withDescription("first print what the log holds after this message id, then a marker line, then live")
  ),
  json: Options.boolean("json").pipe(Options.withDescription("print each event's envelope as a JSON line"))
}

const split = (values: ReadonlyArray<string>): ReadonlyArray<string> | undefined => {
  const all = values.flatMap((v) => v.split(",")).map((v) => v.trim()).filter((v) => v !== "")
  return all.length === 0 ? undefined : all
}

/** The subscription filter the flags describe. */
export const filterOf = (o: {
  readonly session: ReadonlyArray<string>
  readonly job: ReadonlyArray<string>
  readonly trace: ReadonlyArray<string>
  readonly types: ReadonlyArray<string>
  readonly minPriority: Option.Option<(typeof priorities)[number]>
  readonly noThoughts: boolean
}): SubscriptionFilter => {
  const session_id = split(o.session)
  const job_id = split(o.job)
  const trace_id = split(o.trace)
  const types = split(o.types)
  return {
    ...(session_id !== undefined ? { session_id } : {}),
    ...(job_id !== undefined ? { job_id } : {}),
    ...(trace_id !== undefined ? { trace_id } : {}),
    ...(types !== undefined ? { types } : {}),
    ...(Option.isSome(o.minPriority) ? { min_priority: o.minPriority.value } : {}),
    ...(o.noThoughts ? { exclude_kinds: ["thought"] } : {})
  }
}

export const tail = Command.make("tail", options, (o) =>
  Effect.gen(function*() {
    const session = yield* Connect.open(o, { kind: "arcp-cli" })
    const since = Option.isSome(o.since) ? { after_message_id: o.since.value } : undefined
    yield* session.subscribe(filterOf(o), since).pipe(
      Stream.runForEach((event) =>
        o.json
          ? Console.log(encodeUnchecked(event))
          : Console.log(isBackfillComplete(event) ? BACKFILL_LINE : line(event))
      )
    )
  }).pipe(
    Effect.scoped,
    Effect.catchTags({
      ArcpError: (e) =>
        Connect.failWith(
          e.code === "PERMISSION_DENIED"
            ? `arcp: ${e.message} (ask the operator for an observer grant to watch other principals' sessions)`
            : `arcp: ${e.code}: ${e.message}`
        ),
      ClientError: (e) => Connect.failWith(`arcp: the session ended: ${e.message}`),
      TransportError: (e) => Connect.failWith(`arcp: cannot connect to ${o.url}: ${e.message}`)
    }),
    Effect.catchTag("ExitCode", setExitCode)
  )).pipe(Command.withDescription(
    "Watch a runtime's events live (a §13 subscription): one line per event, filtered by session, job, trace or type"
  ))
