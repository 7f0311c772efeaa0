/**
 * Group commit, for both SQL backends of the event log: every write joins one buffer, and one writer
 * fiber commits whatever is waiting in one transaction, then completes the callers. Order holds (a
 * group is committed in buffer order) while the cost of a commit is shared across sessions. What a
 * backend supplies is `commit`: a group of writes in one transaction, one result per write.
 *
 * A backend whose commit is synchronous (SQLite) commits an awaited write on the caller's own fiber,
 * taking along whatever waits ahead of it (order holds: nobody else can commit meanwhile). A lone
 * write, as at one request in flight, then saves the hops to the writer fiber and back, and staged
 * writes (a job's record, which nobody awaits) ride in the commit of the job's next event: the writer
 * takes them itself only after a turn of the event loop in which no commit took them.
 */
import { Effect, Either, Option, Queue, type Scope } from "effect"
import { afterEventLoopTurn } from "../../internal/EventLoop.js"
import {
  type Claim,
  type EventLog,
  EventLogError,
  type GroupPart,
  type GroupRecorded,
  type Inbound,
  type LoggedEnvelope
} from "../EventLog.js"
import type { Write, WriteResult } from "./SqliteWriter.js"

/** The write half of the `EventLog`: what goes through the group commit. */
export type Writes = Pick<
  EventLog["Type"],
  | "recordInbound"
  | "stageInbound"
  | "recordOutbound"
  | "recordGroup"
  | "claimIdempotencyKey"
  | "saveJob"
  | "stageJob"
  | "saveLease"
  | "saveSession"
  | "claimJob"
  | "saveInstance"
  | "detachSessions"
  | "prune"
>

// the writer returns one result per write; these read the kinds that carry one
const isVerdicts = (r: WriteResult): r is ReadonlyArray<Inbound> =>
  Array.isArray(r) && r.every((v) => typeof v === "object")
const isPositions = (r: WriteResult): r is ReadonlyArray<number> =>
  Array.isArray(r) && r.every((v) => typeof v === "number")
const isClaim = (r: WriteResult): r is Claim => typeof r === "object" && !Array.isArray(r)
/** The result of a write that returns a count (DetachSessions, Prune). */
const countOf = (r: WriteResult): Option.Option<number> => (typeof r === "number" ? Option.some(r) : Option.none())

/** Writes waiting for the group commit (one, or a mixed group's parts), and what to do with their outcome. */
interface Pending {
  readonly writes: ReadonlyArray<Write>
  /** Told the outcome, synchronously; what it returns (a failure to log) runs after. */
  readonly settle: (
    outcome: Either.Either<ReadonlyArray<WriteResult>, EventLogError>
  ) => Effect.Effect<unknown> | undefined
}

/** A group's verdicts and positions, read from its parts' results; `None` when a result is not its part's kind. */
const groupRecorded = (
  parts: ReadonlyArray<GroupPart>,
  results: ReadonlyArray<WriteResult>
): Option.Option<GroupRecorded> => {
  const verdicts: Array<Inbound> = []
  const positions: Array<number> = []
  for (let i = 0; i < parts.length; i++) {
    const result = results[i]
    const kind = parts[i]?._tag
    if (kind === "Inbound" || kind === "Outbound") {
      if (result === undefined || !Array.isArray(result)) return Option.none()
      if (kind === "Inbound" && isVerdicts(result)) verdicts.push(...result)
      else if (kind === "Outbound" && isPositions(result)) positions.push(...result)
      else if (result.length > 0) return Option.none()
    }
  }
  return Option.some({ verdicts, positions })
}

/** The writes of `group`, in order. */
const writesOf = (group: ReadonlyArray<Pending>): Array<Write> => {
  const writes: Array<Write> = []
  for (const p of group) writes.push(...p.writes)
  return writes
}

/** Most writes one transaction takes. */
const BATCH = 1000

const NEW: Inbound = { _tag: "New" }
const DUPLICATE: Inbound = { _tag: "Duplicate" }

/**
 * Starts the writer fiber (for the life of the scope) committing through `commit`. `inline`: `commit`
 * runs synchronously (no other fiber can run during it), so awaited writes commit on their caller's fiber.
 * `seen`: whether a message id is committed, read synchronously by the one writer: inbound envelopes are
 * then staged (`stageInbound`), their verdicts known before their write commits.
 */
export const make = (
  commit: (writes: ReadonlyArray<Write>) => Effect.Effect<ReadonlyArray<WriteResult>, EventLogError>,
  backend: string,
  options: {
    readonly inline?: boolean
    readonly seen?: ((principal: string, id: string) => boolean) | undefined
    readonly failure?: ((cause: unknown) => EventLogError) | undefined
  } = {}
): Effect.Effect<Writes, never, Scope.Scope> =>
  Effect.gen(function*() {
    let buffer: Array<Pending> = []
    // the writer holds a group it has not finished committing: nothing may commit ahead of it
    let busy = false
    const wake = yield* Queue.sliding<void>(1)

    /** Takes up to `room` writes from the front of the buffer. */
    const takeFront = (room: number) => {
      const taken = buffer.length <= room ? buffer : buffer.slice(0, room)
      buffer = buffer.length <= room ? [] : buffer.slice(room)
      return taken
    }
    const settleAll = (
      group: ReadonlyArray<Pending>,
      committed: Either.Either<ReadonlyArray<WriteResult>, EventLogError>
    ): Effect.Effect<void> => {
      // settled in one step: staged writes that committed need nothing, awaited ones are resumed (issue 12)
      let after: Array<Effect.Effect<unknown>> | undefined
      let offset = 0
      for (const p of group) {
        const start = offset
        offset += p.writes.length
        const rest = p.settle(Either.map(committed, (results) => results.slice(start, offset)))
        if (rest !== undefined) (after ??= []).push(rest)
      }
      return after === undefined ? Effect.void : Effect.forEach(after, (effect) => effect, { discard: true })
    }

    /** The writer's round: the front of the buffer in one commit. */
    const round = Effect.suspend(() => {
      const group = takeFront(BATCH)
      busy = true
      return Effect.either(commit(writesOf(group))).pipe(
        Effect.tap(() => {
          busy = false
        }),
        Effect.flatMap((committed) => settleAll(group, committed))
      )
    })

    yield* Effect.gen(function*() {
      while (true) {
        yield* Queue.take(wake)
        while (buffer.length > 0) yield* round
      }
    }).pipe(Effect.forkScoped)

    // what still waits when the log closes is committed then (a job's last staged record)
    yield* Effect.addFinalizer(() => Effect.suspend(() => (buffer.length === 0 ? Effect.void : round)))

    // inline, only staged writes wait for the writer, and only those no commit took in this turn of the event
    // loop: the writer is woken after the turn, if any are left (a plain callback, not the writer's fiber
    // waking and waiting itself, once per job at one job in flight; issue 12)
    let turnPending = false
    const wakeIfLeft = () => {
      turnPending = false
      if (buffer.length > 0) Queue.unsafeOffer(wake, undefined)
    }
    const offer = (pending: Pending) =>
      Effect.sync(() => {
        buffer.push(pending)
        if (options.inline !== true) Queue.unsafeOffer(wake, undefined)
        else if (!turnPending) {
          turnPending = true
          afterEventLoopTurn(wakeIfLeft)
        }
      })

    /** The writer returns the result kind of each write, so a `None` from `pick` is a defect, not a default. */
    const picked = <A>(
      writes: ReadonlyArray<Write>,
      pick: (results: ReadonlyArray<WriteResult>) => Option.Option<A>,
      results: ReadonlyArray<WriteResult>
    ) =>
      Option.match(pick(results), {
        onNone: () =>
          Effect.dieMessage(
            `the ${backend} writer returned no result for a ${writes.map((w) => w._tag).join("+")} write`
          ),
        onSome: (a: A) => Effect.succeed(a)
      })

    /** Buffers `writes` for the writer's next group commit and waits for their results, read by `pick`. */
    const queued = <A>(writes: ReadonlyArray<Write>, pick: (results: ReadonlyArray<WriteResult>) => Option.Option<A>) =>
      Effect.async<A, EventLogError>((resume) => {
        buffer.push({
          writes,
          settle: (outcome) => {
            resume(Either.isLeft(outcome) ? Effect.fail(outcome.left) : picked(writes, pick, outcome.right))
            return undefined
          }
        })
        Queue.unsafeOffer(wake, undefined)
      })

    /** `writes` and what waits ahead of them, committed on this fiber; then the ones taken along are settled. */
    const inline = <A>(writes: ReadonlyArray<Write>, pick: (results: ReadonlyArray<WriteResult>) => Option.Option<A>) =>
      Effect.suspend(() => {
        const ahead = takeFront(Math.max(0, BATCH - writes.length))
        const before = writesOf(ahead)
        return Effect.either(commit([...before, ...writes])).pipe(
          Effect.tap((committed) => settleAll(ahead, committed)),
          Effect.flatMap(Either.match({
            onLeft: Effect.fail,
            onRight: (results) => picked(writes, pick, results.slice(before.length))
          }))
        )
      })

    /** `writes` committed at once: on this fiber when the commit is synchronous and the writer holds nothing, else queued. */
    const submitAll = <A>(
      writes: ReadonlyArray<Write>,
      pick: (results: ReadonlyArray<WriteResult>) => Option.Option<A>
    ): Effect.Effect<A, EventLogError> =>
      options.inline === true
        ? Effect.suspend(() => (busy ? queued(writes, pick) : inline(writes, pick)))
        : queued(writes, pick)
    const submit = <A>(write: Write, pick: (result: WriteResult) => Option.Option<A>) =>
      submitAll([write], (results) => (results.length === 1 ? pick(results[0]) : Option.none()))
    const none = () => Option.some(undefined)

    // message ids staged and not committed yet (principal, NUL, id): a repeat meanwhile is a duplicate too
    const staged = new Set<string>()
    /**
     * The verdicts from what is committed and what is staged, then the new envelopes staged: they commit with
     * the next commit, ahead of whatever it holds (their answers' included), or after a turn of the event
     * loop. One commit per message and its answers instead of two (issue 12).
     */
    const stageInbound = (seen: (principal: string, id: string) => boolean) =>
    (
      principal: string,
      envelopes: ReadonlyArray<LoggedEnvelope>
    ): Effect.Effect<ReadonlyArray<Inbound>, EventLogError> =>
      Effect.suspend(() => {
        const verdicts: Array<Inbound> = []
        const fresh: Array<LoggedEnvelope> = []
        const keys: Array<string> = []
        try {
          for (const envelope of envelopes) {
            const key = `${principal}\u0000${envelope.id}`
            if (staged.has(key) || seen(principal, envelope.id)) verdicts.push(DUPLICATE)
            else {
              staged.add(key)
              keys.push(key)
              fresh.push(envelope)
              verdicts.push(NEW)
            }
          }
        } catch (cause) {
          for (const key of keys) staged.delete(key)
          return Effect.fail(options.failure?.(cause) ?? new EventLogError({ reason: "Read", message: String(cause) }))
        }
        if (fresh.length === 0) return Effect.succeed(verdicts)
        return Effect.as(
          offer({
            writes: [{ _tag: "Inbound", principal, envelopes: fresh }],
            settle: (outcome) => {
              for (const key of keys) staged.delete(key)
              if (Either.isLeft(outcome)) {
                return Effect.logError(`cannot record ${fresh.length} inbound message(s) of ${principal}`, outcome.left)
              }
              // another runtime on the same file recorded one of them in the meantime: it ran twice
              const late = outcome.right[0]
              return isVerdicts(late) && late.some((v) => v._tag === "Duplicate")
                ? Effect.logWarning("a message id recorded meanwhile by another runtime was executed here too")
                : undefined
            }
          }),
          verdicts
        )
      })

    const writes: Writes = {
      recordInbound: (principal, envelopes) =>
        envelopes.length === 0
          ? Effect.succeed([])
          : submit({ _tag: "Inbound", principal, envelopes }, (r) => (isVerdicts(r) ? Option.some(r) : Option.none())),
      ...(options.inline === true && options.seen !== undefined ? { stageInbound: stageInbound(options.seen) } : {}),
      recordOutbound: (envelopes) =>
        envelopes.length === 0
          ? Effect.succeed([])
          : submit({ _tag: "Outbound", envelopes }, (r) => (isPositions(r) ? Option.some(r) : Option.none())),
      recordGroup: (parts) =>
        parts.length === 0
          ? Effect.succeed({ verdicts: [], positions: [] })
          : submitAll(parts, (results) => groupRecorded(parts, results)),
      claimIdempotencyKey: (claim) =>
        submit({ _tag: "Claim", ...claim }, (r) => (isClaim(r) ? Option.some(r) : Option.none())),
      saveJob: (job) => submit({ _tag: "SaveJob", job }, none),
      stageJob: (job) =>
        offer({
          writes: [{ _tag: "SaveJob", job }],
          // nobody waits on a staged write: a failure is logged
          settle: (outcome) =>
            Either.isLeft(outcome) ? Effect.logError(`cannot record job ${job.job_id}`, outcome.left) : undefined
        }).pipe(Effect.asVoid),
      saveLease: (lease) => submit({ _tag: "SaveLease", lease }, none),
      saveSession: (session) => submit({ _tag: "SaveSession", session }, none),
      claimJob: (job_id, previous, instance_id) =>
        submit(
          { _tag: "ClaimJob", job_id, previous, instance_id },
          (r) => (typeof r === "boolean" ? Option.some(r) : Option.none())
        ),
      saveInstance: (instance) => submit({ _tag: "SaveInstance", instance }, none),
      detachSessions: (instance_id, resume_until, now) =>
        submit({ _tag: "DetachSessions", instance_id, resume_until, now }, countOf),
      prune: (prune) => submit({ _tag: "Prune", ...prune }, countOf)
    }
    return writes
  })
