/**
 * The stalled-reader watchdog of an outbound path: started when its buffer fills, it reports a peer that takes
 * nothing for a whole `stallTimeout` while the buffer stays full (`onStall`, once per path); a peer that takes
 * anything in each interval keeps the path going. An answer overrunning twice the budget reports at once.
 */
import { Duration, Effect, type Scope } from "effect"

export interface Stall {
  /** Reports the stall now (once). */
  readonly stall: Effect.Effect<void>
  /** Starts the watchdog if the buffer is full and none runs. */
  readonly noteFull: Effect.Effect<void>
}

export const make = (options: {
  readonly full: () => boolean
  /** Bytes the peer has taken so far. */
  readonly taken: () => number
  readonly closed: () => boolean
  readonly stallTimeout: Duration.Duration
  readonly onStall: Effect.Effect<void> | undefined
  /** Runs a reaction on a fiber of its own (it ends the session, which flushes the path). */
  readonly react: (effect: Effect.Effect<void>) => Effect.Effect<void>
  readonly scope: Scope.Scope
}): Stall => {
  const { closed, full, onStall, stallTimeout, taken } = options
  let stalled = false
  let watchdog = false
  const stall = Effect.suspend(() => {
    if (stalled || onStall === undefined) return Effect.void
    stalled = true
    return options.react(onStall)
  })
  const watch = () =>
    Effect.gen(function*() {
      let mark = taken()
      while (full() && !closed()) {
        yield* Effect.sleep(stallTimeout)
        if (!full() || closed()) break
        const now = taken()
        if (now === mark) return yield* stall
        mark = now
      }
    }).pipe(Effect.ensuring(Effect.sync(() => {
      watchdog = false
    })))
  const noteFull = Effect.suspend(() => {
    if (!full() || watchdog || !Duration.isFinite(stallTimeout)) return Effect.void
    watchdog = true
    return Effect.asVoid(Effect.forkIn(watch(), options.scope))
  })
  return { stall, noteFull }
}
