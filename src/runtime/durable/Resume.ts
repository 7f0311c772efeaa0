/**
 * `resume` (RFC §19): the session's envelopes after `after_message_id` (or a
 * job checkpoint), replayed in their original order with their original ids,
 * then live, through `Feed.follow` — one follower from that position, so
 * there is no gap and no duplicate at the boundary. An id the log does not
 * hold for this session, or one older than the replay retention, is answered
 * DATA_LOSS rather than a partial replay. `job_id` narrows it to one job —
 * also a job of another session of the same principal (one evicted for good:
 * its jobs ran on detached, and a new session follows them, §8.5);
 * `include_open_streams: false` leaves stream events out. A connection may
 * resume several times as long as the resumes do not overlap (the whole
 * session once, or each job once).
 */
import { Clock, type Context, Duration, Effect, Either, Option, Scope } from "effect"
import { ArcpError } from "../../protocol/Errors.js"
import { decodeJson, type Message } from "../../protocol/Message.js"
import { now as nowStamp, toMillis } from "../../protocol/Timestamp.js"
import { type EventLog, readAll } from "../../store/EventLog.js"
import type { Feed, FeedClosed, FeedItem, Filter } from "../events/Feed.js"
import { relay } from "../events/Relayed.js"
import type { LiveSession } from "../LiveSession.js"
import type { Outbound } from "../outbound/Outbound.js"
import type { Settings } from "../RuntimeConfig.js"
import { TRACE_EXTENSION } from "../tracing/SpanFeed.js"

export interface ResumeServices {
  readonly log: Context.Tag.Service<typeof EventLog>
  readonly feed: Context.Tag.Service<typeof Feed>
  readonly settings: Settings
}

/** What the resuming connection offers. */
export interface ResumeConnection {
  readonly session: LiveSession
  readonly outbound: Outbound
  /** The connection's scope: the follower lives as long as the connection. */
  readonly scope: Scope.Scope
  /** Whether this connection recorded the envelope itself (and so wrote it already): not forwarded twice. */
  readonly recordedHere: (envelope: { readonly id: string }) => boolean
}

const unreadable = (e: { readonly message: string }) =>
  ArcpError.of("UNAVAILABLE", `cannot read the event log: ${e.message}`)

const dataLoss = (message: string, details: Record<string, unknown>) => ArcpError.of("DATA_LOSS", message, { details })

/**
 * Whose events a resume replays: the whole session, or one job — of this session, or (§8.5) of another
 * session of the same principal, e.g. one evicted for good, whose jobs ran on detached.
 */
interface Replayed {
  readonly filter: Filter
  /** The job it narrows to, if any. */
  readonly jobId?: string | undefined
}

const scopeOf = Effect.fnUntraced(
  function*(services: ResumeServices, sessionId: string, principal: string, message: Message<"resume">) {
    const jobId = message.job_id
    if (jobId === undefined) return { filter: { session_id: [sessionId] } } satisfies Replayed
    const job = yield* services.log.getJob(jobId).pipe(Effect.mapError(unreadable))
    // another principal's job and an unknown one get the same answer: asking teaches nothing
    if (Option.isNone(job) || job.value.principal !== principal) {
      return yield* ArcpError.of("NOT_FOUND", `no job ${jobId} of this principal to resume`)
    }
    return { filter: { job_id: [jobId] }, jobId } satisfies Replayed
  }
)

/** The position to replay after: the named message's, or the named checkpoint's; DATA_LOSS when unknown or too old. */
const startOf = Effect.fnUntraced(function*(
  services: ResumeServices,
  sessionId: string,
  principal: string,
  replayed: Replayed,
  message: Message<"resume">
) {
  const { after_message_id, checkpoint_id } = message.payload
  const retentionMs = Duration.toMillis(services.settings.replayRetention)
  let row: { readonly position: number; readonly timestamp: string } | undefined
  if (after_message_id !== undefined) {
    // a job's resume may name what its client last saw in the job's own session (§8.5)
    const found = replayed.jobId === undefined
      ? yield* services.log.positionOf(sessionId, after_message_id).pipe(Effect.mapError(unreadable))
      : Option.fromNullable(
        (yield* services.log.read({ id: [after_message_id], limit: 1 }).pipe(Effect.mapError(unreadable))).find(
          (r) => r.principal === principal
        )
      )
    if (Option.isNone(found)) {
      return yield* dataLoss(
        `after_message_id ${after_message_id} is not in this session's log (unknown, or past the replay retention)`,
        { after_message_id, retention_seconds: retentionMs / 1000 }
      )
    }
    row = found.value
  } else if (checkpoint_id !== undefined) {
    const checkpoints = yield* readAll(services.log, {
      ...replayed.filter,
      types: ["job.checkpoint"],
      direction: "out"
    })
      .pipe(Effect.mapError(unreadable))
    row = checkpoints.find((r) => {
      const decoded = decodeJson(r.json)
      return Either.isRight(decoded) && Reflect.get(decoded.right.payload, "checkpoint_id") === checkpoint_id
    })
    if (row === undefined) {
      const where = replayed.jobId === undefined ? "this session" : `job ${replayed.jobId}`
      return yield* dataLoss(`checkpoint ${checkpoint_id} is not in the log of ${where}`, { checkpoint_id })
    }
  }
  if (row === undefined && retentionMs > 0) return 0 // the whole session
  const age = row === undefined ? 0 : (yield* Clock.currentTimeMillis) - toMillis(row.timestamp)
  // a retention of 0 turns replay off: every resume point is past it
  if (row === undefined || retentionMs === 0 || age > retentionMs) {
    return yield* dataLoss(
      `the resume point is ${Math.round(age / 1000)} s old, past the replay retention of ${retentionMs / 1000} s`,
      { retention_seconds: retentionMs / 1000 }
    )
  }
  return row.position
})

/**
 * What each connection follows already. Resumes on one connection may not overlap, or the same envelope
 * would go out twice: one of the whole session, or several, each of another job.
 */
const following = new WeakMap<LiveSession, { whole: boolean; readonly jobs: Set<string> }>()

const overlapping = (session: LiveSession, jobId: string | undefined): string | undefined => {
  const mine = following.get(session)
  if (mine === undefined) return undefined
  if (mine.whole) return "this connection follows its whole session already (resumed once)"
  if (jobId === undefined && mine.jobs.size > 0) {
    return `this connection follows job(s) ${
      [...mine.jobs].join(", ")
    } already: a whole-session resume would repeat their events; resume it on a new connection`
  }
  if (jobId !== undefined && mine.jobs.has(jobId)) return `this connection follows job ${jobId} already`
  return undefined
}

const claim = (session: LiveSession, jobId: string | undefined) => {
  const mine = following.get(session) ?? { whole: false, jobs: new Set<string>() }
  if (jobId === undefined) mine.whole = true
  else mine.jobs.add(jobId)
  following.set(session, mine)
}

/** Handles `resume`: validates, acknowledges, then forwards the session's feed from the resume point on. */
export const resume = Effect.fnUntraced(
  function*(services: ResumeServices, message: Message<"resume">, conn: ResumeConnection) {
    const { outbound, session } = conn
    if (message.session_id !== undefined && message.session_id !== session.id) {
      return yield* ArcpError.of(
        "FAILED_PRECONDITION",
        `this connection holds session ${session.id}; take session ${message.session_id} back with session.open naming it, then resume`
      )
    }
    const busy = overlapping(session, message.job_id)
    if (busy !== undefined) return yield* ArcpError.of("FAILED_PRECONDITION", busy)
    const principal = (yield* session.principal).id
    const replayed = yield* scopeOf(services, session.id, principal, message)
    const after = yield* startOf(services, session.id, principal, replayed, message)
    claim(session, replayed.jobId)
    const withStreams = message.payload.include_open_streams !== false
    const asksSpans = (session.capabilities.extensions ?? []).includes(TRACE_EXTENSION)
    // the answer first: what follows is the replay, then live events
    yield* outbound.emit("ack", { ack_for: message.id, received_at: yield* nowStamp }, { correlation_id: message.id })
    const follower = yield* services.feed.follow({
      filter: replayed.filter,
      after,
      viewer: { principal },
      overflow: "suspend",
      buffer: outbound
    }).pipe(Scope.extend(conn.scope))
    const forward = Effect.fnUntraced(function*(item: FeedItem) {
      if (item._tag === "CaughtUp") return yield* Effect.logInfo(`resume: replayed up to position ${item.position}`)
      const { envelope } = item.event
      // what this connection sent itself (its own answers, jobs it watches) went out already
      if (conn.recordedHere(envelope)) return
      // spans recorded for a subscription (tracing/SpanWatchers) are not this session's unless it asked
      if (envelope.type === "trace.span" && !asksSpans) return
      if (!withStreams && envelope.stream_id !== undefined) return
      yield* outbound.room
      yield* outbound.send(relay(envelope, session.id))
    })
    const ended = (e: FeedClosed) =>
      session.evict(
        e.reason === "Overflow" ? "BACKPRESSURE_OVERFLOW" : "UNAVAILABLE",
        `the resumed session's feed stopped: ${e.message}`
      )
    yield* follower.take.pipe(
      Effect.flatMap((items) => Effect.forEach(items, forward, { discard: true })),
      Effect.forever,
      Effect.catchAll(ended),
      Effect.forkIn(conn.scope)
    )
    yield* Effect.logInfo(`session ${session.id} resumed after position ${after}`)
  }
)
