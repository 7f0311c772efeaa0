/**
 * This runtime process as the store knows it (RFC §4.3): an id, recorded with
 * its host and pid, so that several runtimes on one store do not fight over
 * jobs — a starting runtime takes over only the jobs whose owner is gone: it
 * recorded its stop, or it ran on this host and its process no longer exists.
 * An instance on another host that died without a word is not judged gone
 * (no heartbeat yet: docs/decisions.md).
 */
import { Clock, Context, Effect, Layer } from "effect"
import { hostname } from "node:os"
import { ulid } from "../../protocol/Ids.js"
import { EventLog, type InstanceRecord } from "../../store/EventLog.js"

export class RuntimeInstance extends Context.Tag("arcp/RuntimeInstance")<RuntimeInstance, {
  /** This runtime's id (`rt_<ULID>`), recorded on the jobs and sessions it holds. */
  readonly id: string
  /** Whether the instance `instanceId` is gone (no record counts as gone); never this one. */
  readonly isGone: (instanceId: string | undefined) => Effect.Effect<boolean>
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
export const gone = (record: InstanceRecord, host: string): boolean =>
  record.stopped_at !== undefined ||
  (record.host === host && record.pid !== process.pid && !processAlive(record.pid))

export const make = Effect.gen(function*() {
  const log = yield* EventLog
  const id = `rt_${yield* ulid}`
  const host = hostname()
  const startedAt = yield* Clock.currentTimeMillis
  const record = (now: number, stopped?: number): InstanceRecord => ({
    instance_id: id,
    host,
    pid: process.pid,
    started_at: startedAt,
    heartbeat_at: now,
    ...(stopped !== undefined ? { stopped_at: stopped } : {})
  })
  // a store that cannot record the instance still serves: its jobs then look ownerless to other runtimes
  const save = (r: InstanceRecord) =>
    log.saveInstance(r).pipe(Effect.catchAll((e) => Effect.logWarning(`cannot record runtime instance ${id}`, e)))
  yield* save(record(startedAt))
  yield* Effect.addFinalizer(() => Effect.flatMap(Clock.currentTimeMillis, (now) => save(record(now, now))))
  return RuntimeInstance.of({
    id,
    isGone: (instanceId) =>
      instanceId === id ?
        Effect.succeed(false) :
        instanceId === undefined ?
        Effect.succeed(true) :
        Effect.gen(function*() {
          const known = (yield* log.instances).find((r) => r.instance_id === instanceId)
          return known === undefined || gone(known, host)
        }).pipe(
          // unreadable: leave the job alone (taking over a live runtime's job would run it twice)
          Effect.catchAll((e) => Effect.as(Effect.logWarning("cannot read the runtime instances", e), false))
        )
  })
})

export const layer: Layer.Layer<RuntimeInstance, never, EventLog> = Layer.scoped(RuntimeInstance, make)
