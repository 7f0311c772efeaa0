/**
 * The stalled-reader watchdog of an outbound path: started when its buffer fills, it reports a peer that takes
 * nothing for a whole `stallTimeout` while the buffer stays full (`onStall`, once per path); a peer that takes
 * anything in each interval keeps the path going. An answer overrunning twice the budget reports at once.
 */
import { Duration, Effect, type Scope } from "effect"

export interface Stall {
  /** Reports the stall now (once). */
  stall(): Effect.Effect<void>
  /** Starts the watchdog if the buffer is full and none runs. */
  noteFull(): Effect.Effect<void>
}

/** What the watchdog watches: the outbound path. */
export interface Watched {
  full(): boolean
  /** Bytes the peer has taken so far. */
  taken(): number
  isClosed(): boolean
  readonly onStall: Effect.Effect<void> | undefined
  /** Runs a reaction on a fiber of its own (it ends the session, which flushes the path). */
  react(effect: Effect.Effect<void>): Effect.Effect<void>
  readonly scope: Scope.Scope
}

/** One object, its methods on the prototype: made when the buffer first fills (issue 12). */
class Watchdog implements Stall {
  private stalled = false
  private watching = false

  constructor(private readonly path: Watched, private readonly stallTimeout: Duration.Duration) {}

  stall(): Effect.Effect<void> {
    return Effect.suspend(() => {
      const { onStall } = this.path
      if (this.stalled || onStall === undefined) return Effect.void
      this.stalled = true
      return this.path.react(onStall)
    })
  }

  noteFull(): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (!this.path.full() || this.watching || !Duration.isFinite(this.stallTimeout)) return Effect.void
      this.watching = true
      return Effect.asVoid(Effect.forkIn(this.watch(), this.path.scope))
    })
  }

  private watch(): Effect.Effect<void> {
    const { path, stallTimeout } = this
    const stall = this.stall()
    return Effect.gen(function*() {
      let mark = path.taken()
      while (path.full() && !path.isClosed()) {
        yield* Effect.sleep(stallTimeout)
        if (!path.full() || path.isClosed()) break
        const now = path.taken()
        if (now === mark) return yield* stall
        mark = now
      }
    }).pipe(Effect.ensuring(Effect.sync(() => {
      this.watching = false
    })))
  }
}

export const make = (path: Watched, stallTimeout: Duration.Duration): Stall => new Watchdog(path, stallTimeout)
