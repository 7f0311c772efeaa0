/** Waiting for a turn of the Node event loop, shared by the runtime and the store. */
import { Effect } from "effect"

/**
 * Resumes after the event loop has run its pending I/O callbacks once. Not a
 * timer (`setImmediate`, not the Clock): a turn, not a delay, so it needs no
 * TestClock and costs microseconds.
 */
export const yieldToEventLoop: Effect.Effect<void> = Effect.async<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})

/** Calls `callback` once the event loop has run its pending I/O callbacks once: `yieldToEventLoop` without a fiber. */
export const afterEventLoopTurn = (callback: () => void): void => {
  setImmediate(callback)
}
