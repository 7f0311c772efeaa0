/**
 * The page's clock and timers, on Effect (as everywhere in src/: no setTimeout, no Date.now): `after` runs a
 * callback once, `every` repeatedly; both return a function that stops them.
 */
import { Clock, Duration, Effect, Fiber, Schedule } from "effect"

/** Milliseconds since the epoch, from Effect's Clock. */
export const nowMillis = (): number => Effect.runSync(Clock.currentTimeMillis)

/** Runs `callback` once after `ms`; the returned function cancels it. */
export const after = (ms: number, callback: () => void): () => void => {
  const fiber = Effect.runFork(Effect.delay(Effect.sync(callback), Duration.millis(ms)))
  return () => Effect.runFork(Fiber.interrupt(fiber))
}

/** Runs `callback` every `ms` until the returned function is called. */
export const every = (ms: number, callback: () => void): () => void => {
  const fiber = Effect.runFork(
    Effect.repeat(Effect.delay(Effect.sync(callback), Duration.millis(ms)), Schedule.forever)
  )
  return () => Effect.runFork(Fiber.interrupt(fiber))
}
