/**
 * How the client reconnects when its transport drops (RFC §18.3, §19): a
 * bounded number of attempts per outage, exponential backoff with jitter, then
 * `session.open` naming the session again and `resume` after the last message
 * id it saw, so the application's event streams go on without gap or duplicate.
 */
import { Duration, Effect, Random } from "effect"

export interface ReconnectPolicy {
  /** Most dial attempts per outage (default 8). */
  readonly attempts?: number | undefined
  /** The first delay (default 250 ms), doubled per attempt up to `maxDelay` (default 10 s). */
  readonly initialDelay?: Duration.DurationInput | undefined
  readonly maxDelay?: Duration.DurationInput | undefined
}

/** The defaults: 8 attempts, 250 ms doubling to at most 10 s (about 30 s in all). */
export const DEFAULT_POLICY = { attempts: 8, initialDelay: Duration.millis(250), maxDelay: Duration.seconds(10) }

/** The wait before attempt `attempt` (1 = the first): half the backoff, plus up to as much again at random. */
export const delayBefore = (policy: ReconnectPolicy, attempt: number): Effect.Effect<Duration.Duration> =>
  Effect.map(Random.next, (r) => {
    const initial = Duration.toMillis(Duration.decode(policy.initialDelay ?? DEFAULT_POLICY.initialDelay))
    const max = Duration.toMillis(Duration.decode(policy.maxDelay ?? DEFAULT_POLICY.maxDelay))
    const backoff = Math.min(max, initial * 2 ** Math.max(0, attempt - 1))
    return Duration.millis(Math.round(backoff / 2 + r * (backoff / 2)))
  })
