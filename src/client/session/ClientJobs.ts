/**
 * What a client session starts jobs with (its `invoke`, `schedule`, `listSchedules`, and the `startJob` that
 * `delegate`, `startWorkflow` and `handOver` share): the command sent, its job tracked through the
 * `JobRouter`, the client's own retries (`InvokeOptions.retry`) around an invoke.
 */
import { Deferred, Duration, Effect, Either, FiberId, Mailbox, Scope, Stream } from "effect"
import { type HeaderOptions, make as makeEnvelope } from "../../protocol/Envelope.js"
import type { ArcpError } from "../../protocol/Errors.js"
import { type JobId, TraceId, ulid } from "../../protocol/Ids.js"
import { type Decoded, isCore, type MessageType, type PayloadOf } from "../../protocol/Message.js"
import { SCHEDULES_LIST } from "../../protocol/messages/Execution.js"
import {
  ClientError,
  type InvokeOptions,
  type JobHandle,
  type ScheduleHandle,
  type ScheduleOptions,
  type ScheduleWhen
} from "../ClientApi.js"
import type * as JobRouter from "./JobRouter.js"

/** What the session gives the job-starting calls. */
export interface JobsContext {
  /** The invokes' job handles: job events are routed straight to them by the reader. */
  readonly jobs: ReturnType<typeof JobRouter.make<ClientError>>
  /** Sends an envelope and waits for its first correlated answer. */
  readonly sendAndAwait: (envelope: Decoded) => Effect.Effect<Decoded, ArcpError | ClientError>
  /** Builds, sends and awaits a command. */
  readonly request: <T extends MessageType>(
    type: T,
    payload: PayloadOf<T>,
    header?: HeaderOptions
  ) => Effect.Effect<Decoded, ArcpError | ClientError>
  /** The session's messages, subscribed when run. */
  readonly messages: Effect.Effect<Stream.Stream<Decoded>, never, Scope.Scope>
}

export const make = (ctx: JobsContext) => {
  const { jobs, messages, request, sendAndAwait } = ctx
  const headerOf = (invokeOptions: InvokeOptions): HeaderOptions => ({
    ...(invokeOptions.idempotency_key !== undefined ? { idempotency_key: invokeOptions.idempotency_key } : {}),
    ...(invokeOptions.priority !== undefined ? { priority: invokeOptions.priority } : {}),
    ...(invokeOptions.trace_id !== undefined ? { trace_id: TraceId.make(invokeOptions.trace_id) } : {})
  })

  const invokeOnce = (tool: string, args?: Record<string, unknown>, invokeOptions: InvokeOptions = {}) =>
    Effect.flatMap(
      makeEnvelope(
        "tool.invoke",
        { tool, ...(args !== undefined ? { arguments: args } : {}) },
        headerOf(invokeOptions)
      ),
      startJob
    )

  /** Sends a command that starts a job (tool.invoke, agent.delegate, workflow.start) and tracks the job. */
  const startJob = Effect.fnUntraced(function*(envelope: Decoded) {
    const sink: JobRouter.JobSink<ClientError> = {
      events: yield* Mailbox.make<Decoded>(),
      outcome: Deferred.unsafeMake<unknown, ArcpError | ClientError>(FiberId.none)
    }
    // registered before sending: the reader attaches the job when its job.accepted arrives
    jobs.expect(envelope.id, sink)
    let jobId: JobId | undefined
    // one plain finalizer on the scope: `Effect.addFinalizer` snapshots and restores the fiber's refs
    // around each, half of an invoke's Effect steps with the two it had (issue 12)
    yield* Scope.addFinalizer(yield* Effect.scope, Effect.sync(() => jobs.forget(envelope.id, jobId)))
    const reply = yield* sendAndAwait(envelope)
    if (!isCore(reply) || reply.type !== "job.accepted") {
      return yield* new ClientError({ reason: "Closed", message: `expected job.accepted, got ${reply.type}` })
    }
    const acceptedJob = reply.payload.job_id
    jobId = acceptedJob
    const handle: JobHandle = {
      jobId: acceptedJob,
      events: Mailbox.toStream(sink.events),
      outcome: Deferred.await(sink.outcome),
      cancel: (cancelOptions = {}) => request("cancel", { target: "job", target_id: acceptedJob, ...cancelOptions }),
      interrupt: (prompt) =>
        Effect.asVoid(
          request("interrupt", {
            target: "job",
            target_id: acceptedJob,
            ...(prompt !== undefined ? { prompt } : {})
          })
        )
    }
    return handle
  })

  /** The client's retries (`InvokeOptions.retry`) around `invokeOnce`. */
  const invoke = (tool: string, args?: Record<string, unknown>, invokeOptions: InvokeOptions = {}) => {
    const policy = invokeOptions.retry
    return policy === undefined || policy.attempts <= 1
      ? invokeOnce(tool, args, invokeOptions)
      : invokeWithRetries(tool, args, invokeOptions, policy)
  }
  const invokeWithRetries = Effect.fnUntraced(function*(
    tool: string,
    args: Record<string, unknown> | undefined,
    invokeOptions: InvokeOptions,
    policy: NonNullable<InvokeOptions["retry"]>
  ) {
    const scope = yield* Effect.scope
    const key = invokeOptions.idempotency_key ?? `retry_${yield* ulid}`
    const initial = Duration.toMillis(Duration.decode(policy.backoff ?? "200 millis"))
    const pause = (attempt: number, error: ArcpError) => {
      const floor = error.details?.retry_after_seconds
      const ms = Math.max(initial * 2 ** (attempt - 1), typeof floor === "number" ? floor * 1000 : 0)
      return Effect.sleep(Duration.millis(ms))
    }
    const retryable = (e: ArcpError | ClientError): e is ArcpError => e._tag === "ArcpError" && e.isRetryable
    let attempt = 1
    /** Sends the invoke under `k` until accepted, while the refusal is retryable and attempts remain. */
    const accepted = (k: string): Effect.Effect<JobHandle, ArcpError | ClientError> =>
      invokeOnce(tool, args, { ...invokeOptions, idempotency_key: k }).pipe(
        Scope.extend(scope),
        Effect.catchIf(
          (e): e is ArcpError => retryable(e) && attempt < policy.attempts,
          (e) =>
            Effect.suspend(() => {
              attempt += 1
              return Effect.zipRight(pause(attempt - 1, e), accepted(k))
            })
        )
      )
    const first = yield* accepted(key)
    const outcome = Effect.gen(function*() {
      let handle = first
      let rerun = 0
      while (true) {
        const result = yield* Effect.either(handle.outcome)
        if (Either.isRight(result)) return result.right
        const error = result.left
        if (!retryable(error) || attempt >= policy.attempts) return yield* Effect.fail(error)
        attempt += 1
        rerun += 1
        yield* pause(attempt - 1, error)
        handle = yield* accepted(`${key}#retry-${rerun}`)
      }
    })
    return { ...first, outcome }
  })

  const schedule = Effect.fnUntraced(function*(
    tool: string,
    args: Record<string, unknown> | undefined,
    when: ScheduleWhen,
    scheduleOptions: ScheduleOptions = {}
  ) {
    const envelope = yield* makeEnvelope("job.schedule", {
      job: { type: "tool.invoke", payload: { tool, ...(args !== undefined ? { arguments: args } : {}) } },
      when,
      ...(scheduleOptions.missed !== undefined ? { missed: scheduleOptions.missed } : {})
    }, {
      ...(scheduleOptions.idempotency_key !== undefined
        ? { idempotency_key: scheduleOptions.idempotency_key }
        : {}),
      ...(scheduleOptions.trace_id !== undefined ? { trace_id: TraceId.make(scheduleOptions.trace_id) } : {})
    })
    // subscribed before sending: a firing may follow the answer at once
    const firings = yield* messages
    const reply = yield* sendAndAwait(envelope)
    if (!isCore(reply) || reply.type !== "job.accepted") {
      return yield* new ClientError({ reason: "Closed", message: `expected job.accepted, got ${reply.type}` })
    }
    const scheduleId = reply.payload.job_id
    const handle: ScheduleHandle = {
      scheduleId,
      commandId: envelope.id,
      firings: firings.pipe(
        Stream.filter((m) => m.causation_id === envelope.id && m.job_id !== undefined && m.job_id !== scheduleId)
      ),
      cancel: request("cancel", { target: "job", target_id: scheduleId })
    }
    return handle
  })

  const listSchedules = Effect.flatMap(makeEnvelope(SCHEDULES_LIST, {}), sendAndAwait).pipe(
    Effect.map((answer) => {
      const schedules: unknown = Reflect.get(answer.payload, "schedules")
      return Array.isArray(schedules) ? schedules : []
    })
  )

  return { headerOf, startJob, invoke, schedule, listSchedules }
}
