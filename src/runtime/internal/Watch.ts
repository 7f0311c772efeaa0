/**
 * A session following a job it did not start (a retransmit of its invoke
 * from another connection, a repeated idempotency key): through the `Feed`,
 * so what it gets is what was committed, in log order — the backfill, then
 * live — with no special merge of what the log may not hold yet. Each event
 * is relayed to the session (re-addressed, not recorded again).
 */
import { Deferred, Effect, ExecutionStrategy, Exit, Scope } from "effect"
import type { Decoded } from "../../protocol/Message.js"
import type { Feed, FeedItem } from "../events/Feed.js"
import { relay } from "../events/Relayed.js"
import type { Job, Owner } from "../jobs/Job.js"
import { isTerminal } from "./Finish.js"

export interface WatchContext {
  readonly feed: Feed["Type"]
  /** Runs the live part when the session has no scope of its own (a scheduler's owner). */
  readonly background: (effect: Effect.Effect<void>) => Effect.Effect<void>
}

export interface WatchOptions {
  /** The command that created the job: its own terminal (caused by it) ends the watch. */
  readonly commandId: string
  /** The job while it is live here (absent: it has ended, or runs nowhere). */
  readonly live: Job | undefined
  /** 0: from the job's first event; "live": only what comes next. */
  readonly after: 0 | "live"
  /** Events this session is not handed (still read, so the job's terminal still ends the watch). */
  readonly skip?: ((envelope: Decoded) => boolean) | undefined
}

/**
 * Hands `owner` the events of job `jobId` until the job's own terminal (or,
 * for a job not live here, until the backfill is done). Returns once the
 * backfill is handed over, so a replay comes before the answers to later
 * messages; the live part follows on the session's scope. A session already
 * following the job is not given a second follower. The effect it returns
 * waits for the watch to end (the job's terminal read, or the session gone).
 */
export const watchJob = Effect.fnUntraced(function*(
  ctx: WatchContext,
  owner: Owner,
  jobId: string,
  options: WatchOptions
) {
  const { live } = options
  // the session gets the live events already (its own job, or it follows it): at most a replay of the past
  const liveAlready = live !== undefined &&
    (live.isFollowedBy(owner.sessionId) || (live.sessionId === owner.sessionId && live.watcher !== undefined))
  if (liveAlready && options.after === "live") return Effect.void
  const parent = owner.scope
  const scope = parent === undefined ? yield* Scope.make() : yield* Scope.fork(parent, ExecutionStrategy.sequential)
  const follower = yield* ctx.feed.follow({
    filter: { job_id: [jobId] },
    after: options.after,
    viewer: { principal: owner.principal },
    overflow: "suspend",
    buffer: owner.buffer
  }).pipe(Scope.extend(scope))
  const following = live !== undefined && !liveAlready
  if (following) live.follow(owner.sessionId, true)
  const seen = new Set<string>()
  let done = false
  let caughtUp = options.after === "live"
  const hand = (item: FeedItem): Effect.Effect<void> => {
    if (item._tag === "CaughtUp") {
      caughtUp = true
      // a job not live here has nothing more to come
      if (live === undefined) done = true
      return Effect.void
    }
    const envelope = item.event.envelope
    if (done || seen.has(envelope.id)) return Effect.void
    seen.add(envelope.id)
    if (isTerminal(envelope) && envelope.causation_id === options.commandId) done = true
    if (options.skip?.(envelope) === true) return Effect.void
    return Effect.zipRight(owner.buffer?.room ?? Effect.void, owner.sink(relay(envelope, owner.sessionId)))
  }
  const takeSome = Effect.flatMap(follower.take, (items) => Effect.forEach(items, hand, { discard: true }))
  const over = yield* Deferred.make<void>()
  const end = Effect.suspend(() => {
    if (following) live.follow(owner.sessionId, false)
    return Scope.close(scope, Exit.void).pipe(Effect.zipRight(Deferred.succeed(over, undefined)))
  })
  // the backfill, here: a replay is answered before what follows it
  const backfill = Effect.whileLoop({ while: () => !caughtUp && !done, body: () => takeSome, step: () => {} })
  const rest = Effect.whileLoop({ while: () => !done, body: () => takeSome, step: () => {} })
  const ended = yield* Effect.exit(backfill)
  if (Exit.isFailure(ended) || done || liveAlready) {
    yield* end
  } else {
    const follow = rest.pipe(Effect.ignore, Effect.ensuring(end))
    yield* parent === undefined ? ctx.background(follow) : Effect.asVoid(Effect.forkIn(follow, parent))
  }
  return Deferred.await(over)
})
