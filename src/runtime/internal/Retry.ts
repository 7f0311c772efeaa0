/**
 * Retries of a job's handler (RFC §10.1, §18.3): a tool's `RetryPolicy` as an
 * Effect `Schedule` — exponential backoff capped at a maximum, a bounded number
 * of attempts, only retryable codes, and `details.retry_after_seconds` of the
 * failure honoured as a floor for the next delay.
 */
import { Clock, Duration, Effect, Schedule, ScheduleIntervals } from "effect"
import { type ArcpError, canonicalize } from "../../protocol/Errors.js"

/** How a tool wants failed attempts retried. */
export interface RetryPolicy {
  /** Most attempts in all, the first one included (1 = never retried). */
  readonly attempts: number
  /** The delay before the first retry, multiplied by `factor` (default 2) each time, capped at `max` (default 30 s). */
  readonly backoff?: {
    readonly initial: Duration.DurationInput
    readonly factor?: number | undefined
    readonly max?: Duration.DurationInput | undefined
  } | undefined
  /** The codes that are retried; default: the retryable codes of §18.3 (the error's own `retryable` flag first). */
  readonly codes?: ReadonlyArray<string> | undefined
}

/** Whether `error` is retried under `policy`: an explicit `retryable: false` is never retried. */
export const isRetried = (policy: RetryPolicy, error: ArcpError): boolean =>
  error.retryable !== false &&
  (policy.codes === undefined ? error.isRetryable : policy.codes.map(canonicalize).includes(error.canonicalCode))

/** `details.retry_after_seconds` of the failure (§18.3), as the least delay before the next attempt. */
export const floorOf = (error: ArcpError): Duration.Duration => {
  const seconds = error.details?.retry_after_seconds
  return typeof seconds === "number" && Number.isFinite(seconds) && seconds > 0
    ? Duration.millis(Math.ceil(seconds * 1000))
    : Duration.zero
}

/**
 * The schedule of `policy`: its input and output are the failure. `onRetry` runs once a retry is
 * decided, with the delay before it (the backoff, or the failure's floor when that is longer).
 */
export const schedule = (
  policy: RetryPolicy,
  options: {
    readonly proceed: (error: ArcpError) => boolean
    readonly onRetry: (error: ArcpError, delay: Duration.Duration) => Effect.Effect<void>
  }
): Schedule.Schedule<ArcpError, ArcpError> =>
  Schedule.exponential(policy.backoff?.initial ?? "100 millis", policy.backoff?.factor ?? 2).pipe(
    // union: the shorter of the two delays, so the backoff never exceeds `max`
    Schedule.union(Schedule.spaced(policy.backoff?.max ?? "30 seconds")),
    Schedule.intersect(Schedule.recurs(Math.max(0, Math.floor(policy.attempts) - 1))),
    Schedule.whileInput((error: ArcpError) => isRetried(policy, error) && options.proceed(error)),
    Schedule.passthrough,
    Schedule.modifyDelay((error, delay) => Duration.max(delay, floorOf(error))),
    Schedule.onDecision((error, decision) =>
      decision._tag === "Done" ?
        Effect.void :
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          options.onRetry(error, Duration.millis(Math.max(0, ScheduleIntervals.start(decision.intervals) - now))))
    )
  )

/**
 * Runs `attempt`, and again under `policy` while it fails with a retried error;
 * `beforeRetry` runs right before each new attempt (after the backoff).
 * Without a policy the attempt runs once.
 */
export const retrying = <A>(params: {
  readonly policy: RetryPolicy | undefined
  readonly attempt: Effect.Effect<A, ArcpError>
  readonly beforeRetry: Effect.Effect<void>
  readonly proceed: (error: ArcpError) => boolean
  readonly onRetry: (error: ArcpError, delay: Duration.Duration) => Effect.Effect<void>
}): Effect.Effect<A, ArcpError> => {
  const { policy } = params
  if (policy === undefined || policy.attempts <= 1) return params.attempt
  let first = true
  const attempt = Effect.suspend(() => {
    if (first) {
      first = false
      return params.attempt
    }
    return Effect.zipRight(params.beforeRetry, params.attempt)
  })
  return Effect.retry(attempt, schedule(policy, params))
}
