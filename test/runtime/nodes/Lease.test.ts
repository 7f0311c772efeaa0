/**
 * Runtime instance leases and the takeover sweep (RFC §4.3, issues 9 and 17), on the TestClock:
 * each instance renews its lease every heartbeat; one whose lease lapsed is gone wherever it runs;
 * while running, the others take over its unfinished jobs exactly once (two sweeping at the same
 * instant) and detach the sessions it held.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Option, Scope, TestClock } from "effect"
import * as Client from "../../../src/client/Client.js"
import * as Instance from "../../../src/runtime/durable/Instance.js"
import * as RuntimeConfig from "../../../src/runtime/RuntimeConfig.js"
import { EventLog, readAll } from "../../../src/store/EventLog.js"
import * as MemoryEventLog from "../../../src/store/MemoryEventLog.js"
import { ScheduleStore } from "../../../src/store/ScheduleStore.js"
import * as Memory from "../../../src/transport/Memory.js"
import { makeChannel, nodeBus } from "../../support/cluster/ClusterBus.js"
import { killable } from "../../support/cluster/Nodes.js"
import { serverLayer, TOKEN } from "../../support/Harness.js"

const LEASE = { instanceHeartbeat: "10 seconds", instanceLapse: "30 seconds" } as const

/** Lets forked fibers run after a clock move. */
const settle = Effect.repeatN(Effect.yieldNow(), 50)

/** Advances the clock `seconds`, one second at a time, letting what wakes run. */
const advance = (seconds: number) =>
  Effect.forEach(Array.from({ length: seconds }), () => Effect.zipRight(TestClock.adjust("1 second"), settle), {
    discard: true
  })

/** An instance on `log` in its own scope; `dead` cuts its store connection. */
const instanceOn = (log: Context.Tag.Service<typeof EventLog>, options: RuntimeConfig.Options = LEASE) =>
  Effect.gen(function*() {
    let dead = false
    const scope = yield* Scope.make()
    const context = yield* Layer.buildWithScope(
      Instance.layer.pipe(
        Layer.provide(Layer.succeed(EventLog, killable(log, () => dead))),
        Layer.provide(RuntimeConfig.layer(options))
      ),
      scope
    )
    return {
      instance: Context.get(context, Instance.RuntimeInstance),
      kill: Effect.sync(() => {
        dead = true
      }).pipe(Effect.zipRight(Scope.close(scope, Exit.void))),
      stop: Scope.close(scope, Exit.void)
    }
  })

const recordOf = (log: Context.Tag.Service<typeof EventLog>, id: string) =>
  Effect.map(log.instances, (all) => all.find((r) => r.instance_id === id))

describe("instance leases", () => {
  it.scoped(
    "R4.3-1 the lease is renewed every heartbeat; a silent instance is gone once it lapses, a stopped one at once",
    () =>
      Effect.gen(function*() {
        const log = yield* MemoryEventLog.make
        const a = yield* instanceOn(log)
        const b = yield* instanceOn(log)
        const c = yield* instanceOn(log)
        assert.strictEqual((yield* recordOf(log, a.instance.id))?.lease_until, 30_000)
        yield* advance(10)
        const renewed = yield* recordOf(log, a.instance.id)
        assert.deepStrictEqual([renewed?.heartbeat_at, renewed?.lease_until], [10_000, 40_000])
        assert.isFalse(yield* b.instance.isGone(a.instance.id))

        // a cut off: its renewals no longer land, and nothing records its stop
        yield* a.kill
        yield* advance(29)
        assert.isFalse(yield* b.instance.isGone(a.instance.id), "its lease still runs (until 40 s)")
        yield* advance(2)
        assert.isTrue(yield* b.instance.isGone(a.instance.id), "lapsed")
        assert.deepStrictEqual((yield* c.instance.gone).map((r) => r.instance_id), [a.instance.id])
        assert.isFalse(yield* b.instance.isGone(c.instance.id), "c renews its lease")

        yield* b.stop
        assert.isTrue(yield* c.instance.isGone(b.instance.id), "a recorded stop counts at once")
        yield* c.stop
      }),
    60_000
  )

  it.scoped(
    "R4.3-1 an instance on another host counts as gone only by its lease; one without a lease never lapses",
    () =>
      Effect.gen(function*() {
        const log = yield* MemoryEventLog.make
        const here = yield* instanceOn(log)
        const quiet = yield* instanceOn(log, { instanceHeartbeat: 0 })
        assert.isUndefined((yield* recordOf(log, quiet.instance.id))?.lease_until)
        yield* log.saveInstance({
          instance_id: "rt_far",
          host: "another-host",
          pid: 1,
          started_at: 0,
          heartbeat_at: 0,
          lease_until: 30_000
        })
        yield* log.saveInstance({ instance_id: "rt_old", host: "another-host", pid: 1, started_at: 0, heartbeat_at: 0 })
        assert.isFalse(yield* here.instance.isGone("rt_far"))
        yield* advance(31)
        assert.isTrue(yield* here.instance.isGone("rt_far"), "its lease lapsed, whatever its host")
        assert.isFalse(yield* here.instance.isGone("rt_old"), "no lease: judged by its stop or pid only")
        assert.isFalse(yield* here.instance.isGone(quiet.instance.id), "this process runs it")
        assert.isTrue(yield* here.instance.isGone("rt_never_recorded"))
      }),
    60_000
  )
})

/** A runtime on the shared store and channel, over the memory transport, in its own scope. */
const nodeOn = (
  store: Context.Context<EventLog | ScheduleStore>,
  channel: Effect.Effect.Success<typeof makeChannel>
) =>
  Effect.gen(function*() {
    let dead = false
    const scope = yield* Scope.make()
    const log = killable(Context.get(store, EventLog), () => dead)
    const transport = yield* Layer.buildWithScope(Memory.layer(), scope)
    yield* Layer.buildWithScope(
      serverLayer({
        transport: Layer.succeedContext(transport),
        eventLog: Layer.succeedContext(Context.add(store, EventLog, log)),
        bus: nodeBus(channel),
        runtime: { ...LEASE, resumeWindow: "1 hour" }
      }),
      scope
    )
    return {
      network: Context.get(transport, Memory.MemoryNetwork),
      kill: Effect.sync(() => {
        dead = true
      }).pipe(Effect.zipRight(Scope.close(scope, Exit.void)))
    }
  })

describe("takeover while running", () => {
  it.scoped(
    "R4.3-2 R4.3-3 the lapsed node's resumable job is taken over exactly once by two sweeping nodes, its session detached",
    () =>
      Effect.gen(function*() {
        const store = yield* Layer.build(MemoryEventLog.layer)
        const log = Context.get(store, EventLog)
        const channel = yield* makeChannel
        const a = yield* nodeOn(store, channel)
        // the two takers
        yield* nodeOn(store, channel)
        yield* nodeOn(store, channel)
        const session = yield* Client.connect(yield* a.network.connect, {
          credentials: { scheme: "bearer", token: TOKEN },
          reconnect: false
        })
        const job = yield* session.invoke("ticker", { count: 6, interval_ms: 1000 })
        yield* advance(2)
        const sessionId = session.id
        const owner = Option.getOrUndefined(yield* log.getJob(job.jobId))?.instance_id
        assert.isDefined(owner)
        yield* a.kill
        // b and c sweep at the same instants: once a's lease lapses, both try to take the job
        yield* advance(45)
        yield* advance(10)
        const record = yield* log.getJob(job.jobId)
        assert.isTrue(Option.isSome(record) && record.value.terminal !== undefined, "it ended")
        const taker = Option.getOrUndefined(record)?.instance_id
        assert.isTrue(taker !== undefined && taker !== owner, "another node took it")
        const running = (yield* log.instances).filter((r) => r.stopped_at === undefined).map((r) => r.instance_id)
        assert.include(running, taker)
        const rows = yield* readAll(log, { job_id: [job.jobId], direction: "out" })
        const ticks = rows.filter((r) => r.type === "job.progress").map((r) =>
          Number(JSON.parse(r.json).payload.current)
        )
        assert.deepStrictEqual(ticks, [1, 2, 3, 4, 5, 6], "every tick once: the checkpoint was resumed once")
        assert.deepStrictEqual(rows.filter((r) => r.type === "tool.result").length, 1)
        const held = yield* log.getSession(sessionId)
        assert.strictEqual(Option.getOrUndefined(held)?.state, "detached", "resumable on any node")
      }),
    60_000
  )

  it.scoped(
    "R10.6-1 a schedule made on one node fires on the others after it is gone, each firing once across them",
    () =>
      Effect.gen(function*() {
        const store = yield* Layer.build(MemoryEventLog.layer)
        const log = Context.get(store, EventLog)
        const channel = yield* makeChannel
        const a = yield* nodeOn(store, channel)
        yield* nodeOn(store, channel)
        const session = yield* Client.connect(yield* a.network.connect, {
          credentials: { scheme: "bearer", token: TOKEN },
          reconnect: false
        })
        const schedule = yield* session.schedule("echo", { n: 1 }, { every: "FREQ=MINUTELY;COUNT=3" })
        // b arms it at its next sweep, c as it starts: both find the next two firings due
        yield* nodeOn(store, channel)
        yield* advance(30)
        yield* a.kill
        yield* advance(150)
        const fired = yield* readAll(log, { types: ["job.completed"], direction: "out" })
        assert.strictEqual(fired.length, 3, "three firings, each run once")
        const record = yield* Context.get(store, ScheduleStore).get(schedule.scheduleId)
        assert.deepStrictEqual(
          [Option.getOrUndefined(record)?.fire_count, Option.getOrUndefined(record)?.state],
          [3, "done"]
        )
      }),
    60_000
  )
})
