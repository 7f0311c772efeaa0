/**
 * Taking over from runtimes that are gone, while running (RFC §4.3, issue 17):
 * every `instanceHeartbeat`, the instances whose lease lapsed (or that stopped,
 * or whose process died on this host) and were not dealt with yet are looked
 * up; their unfinished jobs are taken over (Recovery: claimed exactly once,
 * resumed from their checkpoint or ended ABORTED) and the sessions they held
 * become detached, resumable on any runtime for the resume window.
 */
import { Clock, Duration, Effect, type Scope } from "effect"
import type { Settings } from "../RuntimeConfig.js"
import { recoverAll, type RecoveryContext } from "./Recovery.js"

export interface TakeoverContext extends RecoveryContext {
  readonly settings: Settings
}

/**
 * One sweep over the instances gone and not settled yet; those it dealt with are added to `settled`
 * (also those found gone at start, whose jobs the start-up recovery took).
 */
export const sweep = (ctx: TakeoverContext, settled: Set<string>): Effect.Effect<void> =>
  Effect.gen(function*() {
    const gone = (yield* ctx.instance.gone).filter((r) => !settled.has(r.instance_id))
    if (gone.length === 0) return
    const owners = new Set(gone.map((r) => r.instance_id))
    if (!(yield* recoverAll(ctx, owners))) return
    const now = yield* Clock.currentTimeMillis
    const until = now + Duration.toMillis(ctx.settings.resumeWindow)
    let detached = 0
    for (const id of owners) {
      detached += yield* ctx.log.detachSessions(id, until, now)
      settled.add(id)
    }
    if (detached > 0) {
      yield* Effect.logWarning(`${detached} session(s) of gone runtimes are resumable here or elsewhere`)
    }
  }).pipe(Effect.catchAll((e) => Effect.logError("cannot sweep the runtimes that are gone", e)))

/** Marks every instance gone now as settled (the start-up recovery took their jobs) and detaches their sessions. */
export const settleAtStart = (ctx: TakeoverContext, settled: Set<string>): Effect.Effect<void> =>
  Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const until = now + Duration.toMillis(ctx.settings.resumeWindow)
    for (const r of yield* ctx.instance.gone) {
      if (r.stopped_at === undefined) yield* ctx.log.detachSessions(r.instance_id, until, now)
      settled.add(r.instance_id)
    }
  }).pipe(Effect.catchAll((e) => Effect.logError("cannot read the runtimes that are gone", e)))

/** Sweeps every `instanceHeartbeat` for the life of the scope (none when the heartbeat is off). */
export const run = (ctx: TakeoverContext, settled: Set<string>): Effect.Effect<void, never, Scope.Scope> =>
  Duration.toMillis(ctx.settings.instanceHeartbeat) <= 0 ?
    Effect.void :
    Effect.sleep(ctx.settings.instanceHeartbeat).pipe(
      Effect.zipRight(sweep(ctx, settled)),
      Effect.forever,
      Effect.forkScoped,
      Effect.asVoid
    )
