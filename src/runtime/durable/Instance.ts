/**
 * This runtime process as the store knows it (RFC §4.3): an id, recorded with
 * its host, pid and a liveness lease it renews every `instanceHeartbeat`, so
 * that several runtimes on one store share its jobs without fighting over them.
 * An instance is gone when it recorded its stop, when its lease lapsed (wherever
 * it runs: a node killed or cut off), or when it ran on this host and its process
 * no longer exists (a `kill -9` then a restart takes over at once). With the
 * heartbeat off (0) it records no lease and is judged by the last two rules only.
 * Leases are compared with the observer's clock: keep the lapse well above the
 * clock skew between hosts (docs/decisions.md).
 */
import { Clock, Context, Duration, Effect, Layer } from "effect"
import { hostname } from "node:os"
import { ulid } from "../../protocol/Ids.js"
import { EventLog, type EventLogError, type InstanceRecord } from "../../store/EventLog.js"
import { RuntimeConfig } from "../RuntimeConfig.js"

export class RuntimeInstance extends Context.Tag("arcp/RuntimeInstance")<RuntimeInstance, {
  /** This runtime's id (`rt_<ULID>`), recorded on the jobs and sessions it holds. */
  readonly id: string
  /** Whether the instance `instanceId` is gone (no record counts as gone); never this one. */
  readonly isGone: (instanceId: string | undefined) => Effect.Effect<boolean>
  /** The recorded instances that are gone now (never this one). */
  readonly gone: Effect.Effect<ReadonlyArray<InstanceRecord>, EventLogError>
}>() {}

/** Whether process `pid` exists on this host (EPERM: it exists, owned by someone else). */
const processAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return error instanceof Error && "code" in error && error.code === "EPERM"
  }
}

/** Whether `record` no longer runs, seen at `now` from `host`. */
export const gone = (record: InstanceRecord, host: string, now: number): boolean =>
  record.stopped_at !== undefined ||
  (record.lease_until !== undefined && record.lease_until < now) ||
  (record.host === host && record.pid !== process.pid && !processAlive(record.pid))

/** The lease an instance takes at each heartbeat: the lapse, and never less than two heartbeats. */
export const leaseMillis = (heartbeat: Duration.Duration, lapse: Duration.Duration): number =>
  Math.max(Duration.toMillis(lapse), 2 * Duration.toMillis(heartbeat))

export const make = Effect.gen(function*() {
  const log = yield* EventLog
  const settings = yield* RuntimeConfig
  const id = `rt_${yield* ulid}`
  const host = hostname()
  const startedAt = yield* Clock.currentTimeMillis
  const beating = Duration.toMillis(settings.instanceHeartbeat) > 0
  const lease = leaseMillis(settings.instanceHeartbeat, settings.instanceLapse)
  const record = (now: number, stopped?: number): InstanceRecord => ({
    instance_id: id,
    host,
    pid: process.pid,
    started_at: startedAt,
    heartbeat_at: now,
    ...(stopped !== undefined ? { stopped_at: stopped } : {}),
    ...(beating && stopped === undefined ? { lease_until: now + lease } : {})
  })
  // a store that cannot record the instance still serves: its jobs then look ownerless to other runtimes
  const save = (r: InstanceRecord) =>
    log.saveInstance(r).pipe(Effect.catchAll((e) => Effect.logWarning(`cannot record runtime instance ${id}`, e)))
  yield* save(record(startedAt))
  yield* Effect.addFinalizer(() => Effect.flatMap(Clock.currentTimeMillis, (now) => save(record(now, now))))
  if (beating) {
    // forked after the finalizer above, so stopped before it records the stop
    yield* Effect.sleep(settings.instanceHeartbeat).pipe(
      Effect.zipRight(Effect.flatMap(Clock.currentTimeMillis, (now) => save(record(now)))),
      Effect.forever,
      Effect.forkScoped
    )
  }
  const goneNow = Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    return (yield* log.instances).filter((r) => r.instance_id !== id && gone(r, host, now))
  })
  return RuntimeInstance.of({
    id,
    gone: goneNow,
    isGone: (instanceId) =>
      instanceId === id ?
        Effect.succeed(false) :
        instanceId === undefined ?
        Effect.succeed(true) :
        Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          const known = (yield* log.instances).find((r) => r.instance_id === instanceId)
          return known === undefined || gone(known, host, now)
        }).pipe(
          // unreadable: leave the job alone (taking over a live runtime's job would run it twice)
          Effect.catchAll((e) => Effect.as(Effect.logWarning("cannot read the runtime instances", e), false))
        )
  })
})

export const layer: Layer.Layer<RuntimeInstance, never, EventLog | RuntimeConfig> = Layer.scoped(
  RuntimeInstance,
  make
)
