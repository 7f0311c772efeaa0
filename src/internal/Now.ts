/**
 * The current time off the fiber's `Clock` (a `TestClock` under test) in one fiber step: `Clock.currentTimeMillis`
 * takes two, and a job reads the time five times (issue 12).
 */
import { Clock, Context, Effect } from "effect"

/** `f` applied to the current time in epoch milliseconds. */
export const withMillis = <A, E, R>(f: (now: number) => Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.withFiberRuntime((fiber) =>
    f(Context.get(fiber.currentDefaultServices, Clock.Clock).unsafeCurrentTimeMillis())
  )

/** The current time in epoch milliseconds. */
export const currentTimeMillis: Effect.Effect<number> = withMillis(Effect.succeed)
