/**
 * Job control across runtimes on one store (issue 17): a `cancel` or an
 * `interrupt` that reaches a runtime for a job another live runtime runs.
 * The receiving runtime answers the client itself (cancel.accepted / ack,
 * judged from the job record), then records a control envelope in the job's
 * own session through the `Recorder`: committed to the log, it travels on the
 * `EventBus` like every event (in process, or PostgreSQL LISTEN/NOTIFY), and the
 * owning runtime's control follower acts on it. Because it is in the log, a
 * cancel whose owner dies before acting on it still holds: the runtime taking
 * the job over reads it (`pendingCancel`) and ends the job instead of resuming it.
 *
 * Control envelopes are the runtime's own: `Feed` shows them to no client
 * (`Feed.shown`), only to the control follower's runtime viewer.
 */
import { Clock, type Context, Effect, Either, Option, Schema, type Scope } from "effect"
import { Capabilities } from "../../protocol/Capabilities.js"
import { make as makeEnvelope } from "../../protocol/Envelope.js"
import { ArcpError } from "../../protocol/Errors.js"
import { JobId, SessionId } from "../../protocol/Ids.js"
import { type Decoded, decodeJson, type Message, tryEncode } from "../../protocol/Message.js"
import { fromMillis } from "../../protocol/Timestamp.js"
import { type EventLog, type JobRecord, readAll } from "../../store/EventLog.js"
import type { Feed, FeedItem } from "../events/Feed.js"
import { CONTROL_TYPE, RUNTIME_VIEWER } from "../events/Feed.js"
import type { Recorder } from "../events/Recorder.js"
import { type Owner, refuseCancel } from "../jobs/Job.js"

type RecorderService = Context.Tag.Service<typeof Recorder>
type LogService = Context.Tag.Service<typeof EventLog>
type FeedService = Context.Tag.Service<typeof Feed>

export { CONTROL_TYPE }

/** What one control envelope asks of the runtime running job `job_id`. */
export const ControlRequest = Schema.Struct({
  action: Schema.Literal("cancel", "interrupt"),
  job_id: Schema.String,
  /** The instance that ran the job when it was sent (a later owner still honours a cancel). */
  instance_id: Schema.optional(Schema.String),
  /** The client message it carries out (the `cancel` or `interrupt` id). */
  message_id: Schema.String,
  reason: Schema.optional(Schema.String),
  deadline_ms: Schema.optional(Schema.Number),
  prompt: Schema.optional(Schema.String)
})
export type ControlRequest = typeof ControlRequest.Type

const decodeRequest = Schema.decodeUnknownOption(ControlRequest)

/** The request a decoded control envelope carries (None for anything else). */
export const requestOf = (envelope: Decoded): Option.Option<ControlRequest> =>
  envelope.type === CONTROL_TYPE ? decodeRequest(envelope.payload) : Option.none()

/** Records `request` for the job of `record`, in its session: the owning runtime hears it on the bus. */
export const send = Effect.fnUntraced(function*(
  recorder: RecorderService,
  record: JobRecord,
  request: ControlRequest
) {
  const sessionId = SessionId.make(record.session_id)
  const envelope = yield* makeEnvelope(CONTROL_TYPE, request, { session_id: sessionId })
  const json = tryEncode(envelope)
  if (Either.isLeft(json)) return yield* Effect.dieMessage(`cannot encode a control envelope: ${json.left}`)
  yield* recorder.record([{ envelope, sessionId, principal: record.principal, json: json.right }])
})

/** A cancel recorded for job `record` that nobody carried out yet (the runtime that took it over does). */
export const pendingCancel = (log: LogService, record: JobRecord) =>
  Effect.map(
    readAll(log, { session_id: [record.session_id], types: [CONTROL_TYPE], direction: "out" }),
    (rows) =>
      Option.fromNullable(
        rows.flatMap((row) => {
          const decoded = decodeJson(row.json)
          if (Either.isLeft(decoded)) return []
          const request = requestOf(decoded.right)
          return Option.isSome(request) && request.value.action === "cancel" && request.value.job_id === record.job_id
            ? [request.value]
            : []
        })[0]
      )
  )

/**
 * Follows every control envelope from now on, for the life of the scope, handing each to `act`
 * (which ignores jobs it does not run). A follower closed by an overflow or a read failure is
 * followed again from the last position it handed out, so nothing committed meanwhile is skipped.
 */
export const listen = (
  feed: FeedService,
  act: (request: ControlRequest) => Effect.Effect<void>
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function*() {
    let after: number | "live" = "live"
    const handle = (item: FeedItem) =>
      Effect.suspend(() => {
        if (item._tag !== "Event") return Effect.void
        after = item.event.position
        return Option.match(requestOf(item.event.envelope), { onNone: () => Effect.void, onSome: act })
      })
    const followOnce = Effect.scoped(
      Effect.gen(function*() {
        const follower = yield* feed.follow({
          filter: { types: [CONTROL_TYPE] },
          after,
          viewer: RUNTIME_VIEWER,
          overflow: "fail"
        })
        return yield* follower.take.pipe(
          Effect.flatMap((items) => Effect.forEach(items, handle, { discard: true })),
          Effect.forever
        )
      })
    )
    yield* followOnce.pipe(
      Effect.catchAll((e) => Effect.logWarning(`job control follower stopped (${e.message}); following again`)),
      Effect.forever,
      Effect.forkScoped
    )
  })

/** What answering for a job another runtime runs needs. */
export interface ElsewhereContext {
  readonly log: LogService
  readonly recorder: RecorderService
  /** The tool of that name here (runtimes sharing a store serve the same tools). */
  readonly cancellable: (tool: string) => boolean
}

const decodeCapabilities = Schema.decodeUnknownOption(Schema.parseJson(Capabilities))

/**
 * `cancel` of a job whose record says another runtime runs it (§10.4): answered here from the record
 * (cancel.accepted, or refused not_cancellable), carried out by the runtime running it.
 */
export const cancelElsewhere = Effect.fnUntraced(function*(
  ctx: ElsewhereContext,
  record: JobRecord,
  message: Message<"cancel">,
  owner: Owner
) {
  if (!ctx.cancellable(record.tool)) return yield* refuseCancel(message, owner, "not_cancellable")
  const { target, target_id } = message.payload
  yield* send(ctx.recorder, record, {
    action: "cancel",
    job_id: record.job_id,
    ...(record.instance_id !== undefined ? { instance_id: record.instance_id } : {}),
    message_id: message.id,
    ...(message.payload.reason !== undefined ? { reason: message.payload.reason } : {}),
    ...(message.payload.deadline_ms !== undefined ? { deadline_ms: message.payload.deadline_ms } : {})
  }).pipe(Effect.mapError((e) => ArcpError.of("UNAVAILABLE", `cannot pass the cancel on: ${e.message}`)))
  const header = { session_id: owner.sessionId, job_id: JobId.make(record.job_id), correlation_id: message.id }
  yield* owner.sink(yield* makeEnvelope("cancel.accepted", { target, target_id }, header))
})

/**
 * `interrupt` of a job another runtime runs (§10.5): checked against the job's session record (it must
 * have negotiated human_input), acknowledged here, carried out by the runtime running it.
 */
export const interruptElsewhere = Effect.fnUntraced(function*(
  ctx: ElsewhereContext,
  record: JobRecord,
  message: Message<"interrupt">,
  owner: Owner
) {
  const session = yield* ctx.log.getSession(record.session_id).pipe(Effect.orElseSucceed(() => Option.none()))
  const humanInput = Option.exists(
    Option.flatMap(session, (s) => decodeCapabilities(s.capabilities)),
    (c) => c.human_input === true
  )
  if (!humanInput) {
    return yield* ArcpError.of(
      "FAILED_PRECONDITION",
      "the job's session did not negotiate capabilities.human_input, so it cannot be asked for guidance"
    )
  }
  yield* send(ctx.recorder, record, {
    action: "interrupt",
    job_id: record.job_id,
    ...(record.instance_id !== undefined ? { instance_id: record.instance_id } : {}),
    message_id: message.id,
    ...(message.payload.prompt !== undefined ? { prompt: message.payload.prompt } : {})
  }).pipe(Effect.mapError((e) => ArcpError.of("UNAVAILABLE", `cannot pass the interrupt on: ${e.message}`)))
  const received_at = fromMillis(yield* Clock.currentTimeMillis)
  yield* owner.sink(
    yield* makeEnvelope("ack", { ack_for: message.id, received_at }, {
      session_id: owner.sessionId,
      job_id: JobId.make(record.job_id),
      correlation_id: message.id
    })
  )
})
