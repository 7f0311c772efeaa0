/**
 * Group commit, for both SQL backends of the event log: every write joins one queue, and one writer
 * fiber commits whatever is waiting in one transaction, then completes the callers. Order holds (a
 * group is committed in queue order) while the cost of a commit is shared across sessions. What a
 * backend supplies is `commit`: a group of writes in one transaction, one result per write.
 */
import { Deferred, Effect, Either, Option, Queue, type Scope } from "effect"
import type { Claim, EventLog, EventLogError, GroupPart, GroupRecorded, Inbound } from "../EventLog.js"
import type { Write, WriteResult } from "./SqliteWriter.js"

/** The write half of the `EventLog`: what goes through the group commit. */
export type Writes = Pick<
  EventLog["Type"],
  | "recordInbound"
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
>

// the writer returns one result per write; these read the kinds that carry one
const isVerdicts = (r: WriteResult): r is ReadonlyArray<Inbound> =>
  Array.isArray(r) && r.every((v) => typeof v === "object")
const isPositions = (r: WriteResult): r is ReadonlyArray<number> =>
  Array.isArray(r) && r.every((v) => typeof v === "number")
const isClaim = (r: WriteResult): r is Claim => typeof r === "object" && !Array.isArray(r)

/** Writes waiting for the group commit (one, or a mixed group's parts), and what to do with their outcome. */
interface Pending {
  readonly writes: ReadonlyArray<Write>
  readonly settle: (outcome: Either.Either<ReadonlyArray<WriteResult>, EventLogError>) => Effect.Effect<unknown>
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

/** Most writes one transaction takes. */
const BATCH = 1000

/** Starts the writer fiber (for the life of the scope) committing through `commit`. */
export const make = (
  commit: (writes: ReadonlyArray<Write>) => Effect.Effect<ReadonlyArray<WriteResult>, EventLogError>,
  backend: string
): Effect.Effect<Writes, never, Scope.Scope> =>
  Effect.gen(function*() {
    const queue = yield* Queue.unbounded<Pending>()

    yield* Effect.gen(function*() {
      while (true) {
        const batch = yield* Queue.takeBetween(queue, 1, BATCH)
        const writes: Array<Write> = []
        for (const pending of batch) writes.push(...pending.writes)
        const committed = yield* Effect.either(commit(writes))
        let offset = 0
        for (const pending of batch) {
          const end = offset + pending.writes.length
          yield* pending.settle(Either.map(committed, (results) => results.slice(offset, end)))
          offset = end
        }
      }
    }).pipe(Effect.forkScoped)

    /**
     * Queues `write` for the next group commit and waits for its result, read by `pick`. The writer
     * returns the result kind of each write, so a `None` from `pick` is a defect, not a default.
     */
    const submitAll = <A>(
      writes: ReadonlyArray<Write>,
      pick: (results: ReadonlyArray<WriteResult>) => Option.Option<A>
    ) =>
      Effect.flatMap(Deferred.make<A, EventLogError>(), (done) =>
        Effect.zipRight(
          Queue.offer(queue, {
            writes,
            settle: (outcome) =>
              Deferred.complete(
                done,
                Either.isLeft(outcome) ? Effect.fail(outcome.left) : Option.match(pick(outcome.right), {
                  onNone: () =>
                    Effect.dieMessage(
                      `the ${backend} writer returned no result for a ${writes.map((w) => w._tag).join("+")} write`
                    ),
                  onSome: Effect.succeed
                })
              )
          }),
          Deferred.await(done)
        ))
    const submit = <A>(write: Write, pick: (result: WriteResult) => Option.Option<A>) =>
      submitAll([write], (results) => (results.length === 1 ? pick(results[0]) : Option.none()))
    const none = () => Option.some(undefined)

    const writes: Writes = {
      recordInbound: (principal, envelopes) =>
        envelopes.length === 0
          ? Effect.succeed([])
          : submit({ _tag: "Inbound", principal, envelopes }, (r) => (isVerdicts(r) ? Option.some(r) : Option.none())),
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
        Queue.offer(queue, {
          writes: [{ _tag: "SaveJob", job }],
          // nobody waits on a staged write: a failure is logged
          settle: (outcome) =>
            Either.isLeft(outcome) ? Effect.logError(`cannot record job ${job.job_id}`, outcome.left) : Effect.void
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
        submit(
          { _tag: "DetachSessions", instance_id, resume_until, now },
          (r) => (typeof r === "number" ? Option.some(r) : Option.none())
        )
    }
    return writes
  })
