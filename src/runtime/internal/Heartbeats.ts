/**
 * One heartbeat scheduler per runtime (RFC §10.3). A running job registers a
 * tick due every `intervalMs` from its start; one worker fiber sleeps until the
 * earliest tick is due and runs the due ticks in order. Most jobs end long
 * before their first deadline: for them a heartbeat is a Map insert and delete,
 * not a fiber, a timer and an interruption. The runtime keeps a second one for
 * the sessions' idle and lease deadlines (LiveSession): a tick there re-registers
 * its session at the next deadline it computes. Ticks are short: what takes
 * long (an eviction) is forked by the tick.
 */
import { Clock, Duration, Effect, type Fiber, type Scope } from "effect"

/** One deadline of a job, run at `now`: `true` keeps the job scheduled, `false` drops it. */
export type Tick = (now: number) => Effect.Effect<boolean>

/** The scheduler: register a job when it starts, unregister it when it ends. */
export interface Heartbeats {
  /** Schedules `tick` at `firstDue`, then every `intervalMs` after (anchored there, not at the last tick). */
  readonly register: (key: object, firstDue: number, intervalMs: number, tick: Tick) => Effect.Effect<void>
  /** Stops ticking `key`; nothing if it is not registered. */
  readonly unregister: (key: object) => Effect.Effect<void>
}

interface Entry {
  due: number
  order: number
  readonly intervalMs: number
  readonly tick: Tick
}

/** Builds the scheduler; its worker fibers live in the surrounding scope. */
export const make: Effect.Effect<Heartbeats, never, Scope.Scope> = Effect.map(Effect.scope, (scope) => {
  // insertion-ordered; `order` breaks ties between entries due at the same instant
  const entries = new Map<object, Entry>()
  let order = 0
  // when the worker wakes next: +∞ when there is no worker, -∞ while it runs ticks (it looks again after)
  let target = Number.POSITIVE_INFINITY
  let generation = 0
  let sleeper: Fiber.RuntimeFiber<void> | undefined

  const earliest = () => {
    let next = Number.POSITIVE_INFINITY
    for (const entry of entries.values()) if (entry.due < next) next = entry.due
    return next
  }

  const runDue = Effect.fnUntraced(function*(now: number) {
    const due: Array<readonly [object, Entry]> = []
    for (const pair of entries) if (pair[1].due <= now) due.push(pair)
    due.sort(([, a], [, b]) => a.due - b.due || a.order - b.order)
    for (const [key, entry] of due) {
      // a job that ended during an earlier tick of this round
      if (entries.get(key) !== entry) continue
      const keep = yield* entry.tick(now)
      if (entries.get(key) !== entry) continue
      if (!keep) {
        entries.delete(key)
        continue
      }
      entry.due += entry.intervalMs
      // a worker held up past whole intervals skips them rather than bursting
      if (entry.due <= now) entry.due += Math.ceil((now - entry.due + 1) / entry.intervalMs) * entry.intervalMs
      entry.order = ++order
    }
  })

  /**
   * Sleeps until `firstDue`, then runs what is due and sleeps until the next deadline; ends when nothing
   * is registered. Ticks are not interrupted halfway: only the sleep is, when
   * an earlier deadline replaces this worker (and a replaced worker that woke
   * anyway does nothing). Sleeping first is what keeps short jobs cheap: a job that ends before its first
   * heartbeat leaves the worker asleep, and the next job's later deadline needs no new worker (one fork per
   * interval, not one per job at one job in flight; issue 12).
   */
  const worker = (mine: number, firstDue: number): Effect.Effect<void> =>
    Effect.uninterruptibleMask((restore) =>
      Effect.gen(function*() {
        const start = yield* Clock.currentTimeMillis
        if (firstDue > start) {
          yield* restore(Effect.sleep(Duration.millis(firstDue - start)))
          if (mine !== generation) return
          target = Number.NEGATIVE_INFINITY
        }
        while (true) {
          yield* runDue(yield* Clock.currentTimeMillis)
          const next = earliest()
          if (next === Number.POSITIVE_INFINITY) {
            target = next
            sleeper = undefined
            return
          }
          const now = yield* Clock.currentTimeMillis
          if (next > now) {
            target = next
            yield* restore(Effect.sleep(Duration.millis(next - now)))
            if (mine !== generation) return
            target = Number.NEGATIVE_INFINITY
          }
        }
      })
    )

  const start = (firstDue: number) =>
    Effect.suspend(() => {
      const previous = sleeper
      const mine = ++generation
      target = firstDue
      return Effect.forkIn(Effect.interruptible(worker(mine, firstDue)), scope).pipe(
        Effect.flatMap((fiber) => {
          // interrupting a worker that has already ended is harmless
          if (mine === generation) sleeper = fiber
          return previous === undefined
            ? Effect.void
            : Effect.flatMap(Effect.fiberId, (id) => previous.interruptAsFork(id))
        })
      )
    })

  return {
    register: (key, firstDue, intervalMs, tick) =>
      Effect.suspend(() => {
        // a zero interval would be a busy loop
        if (!(intervalMs > 0)) return Effect.void
        entries.set(key, { due: firstDue, order: ++order, intervalMs, tick })
        // the worker wakes early enough, or is running ticks and looks again before it sleeps
        return firstDue >= target ? Effect.void : start(firstDue)
      }),
    unregister: (key) =>
      Effect.sync(() => {
        entries.delete(key)
      })
  }
})
