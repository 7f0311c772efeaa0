/**
 * Subscriptions across a reconnect (§13, §19): a watcher's connection is cut (a TCP relay between it and
 * the runtime, real WebSocket, real SQLite file); its client takes the session back, resumes it and
 * subscribes again after the last event it handed on, so its subscription iterator goes on with every
 * event once, in order.
 */
import { assert, describe, it } from "@effect/vitest"
import { type Duration, Effect, Fiber, Stream } from "effect"
import { ticker } from "../../src/cli/demoTools.js"
import * as ArcpClient from "../../src/client/ArcpClient.js"
import { connect, isBackfillComplete, type PromiseServer } from "../../src/client/promise/Promise.js"
import type { Decoded } from "../../src/protocol/Message.js"
import { openRelayedRuntime, type Relay, relayedRuntime } from "../support/Relay.js"

const credentials = { scheme: "bearer", token: "tok-a" } as const

const withRuntime = async (
  body: (server: PromiseServer, relay: Relay) => Promise<void>,
  options: { readonly replayRetention?: Duration.DurationInput } = {}
) => {
  const { close, relay, server } = await openRelayedRuntime([ticker], options)
  try {
    await body(server, relay)
  } finally {
    await close()
  }
}

const tickOf = (event: Decoded): number => Number(Reflect.get(event.payload, "current"))

/** The events' ticks, and the ids seen more than once. */
const summary = (events: ReadonlyArray<Decoded>) => {
  const ids = events.map((e) => e.id)
  return {
    ticks: events.filter((e) => e.type === "job.progress").map(tickOf),
    twice: ids.filter((id, i) => ids.indexOf(id) !== i)
  }
}

describe("subscriptions across a reconnect", () => {
  it(
    "R13.3-1 R19-1 R6.4-1 Promise adapter: a backfilled subscription survives a cut connection: every event once, in order, one marker",
    async () => {
      await withRuntime(async (server, relay) => {
        const worker = await connect(server.address, { credentials })
        const watcher = await connect(relay.url, { credentials, reconnect: { initialDelay: 20 } })
        try {
          const job = await worker.invoke("ticker", { count: 40, interval_ms: 25 })
          const events: Array<Decoded> = []
          let markers = 0
          let cutAt = 0
          for await (
            const event of watcher.subscribe({ session_id: [worker.id], types: ["job.progress", "tool.result"] }, {})
          ) {
            if (isBackfillComplete(event)) {
              markers++
              continue
            }
            events.push(event)
            if (cutAt === 0 && events.length === 8) {
              cutAt = tickOf(event)
              relay.cut()
            }
            if (event.type === "tool.result") break
          }
          await job.result
          const { ticks, twice } = summary(events)
          assert.deepStrictEqual(ticks, Array.from({ length: 40 }, (_, i) => i + 1), "every tick once, in order")
          assert.deepStrictEqual(twice, [], "no event twice")
          assert.strictEqual(markers, 1, "one end-of-backfill marker")
          assert.isAbove(relay.accepted(), 1, "the watcher reconnected")
          assert.isAbove(cutAt, 0)
          assert.isAtLeast(await watcher.ping(), 0, "the watcher's session goes on")
        } finally {
          await watcher.close()
          await worker.close()
        }
      })
    },
    30_000
  )

  it.live(
    "R13.1-1 R19-1 Effect client: a live subscription survives two cuts: from its first event to the result, each once, in order",
    () =>
      Effect.gen(function*() {
        const { relay, server } = yield* relayedRuntime([ticker])
        const worker = yield* ArcpClient.connect(server.address, { credentials })
        const watcher = yield* ArcpClient.connect(relay.url, { credentials, reconnect: { initialDelay: 20 } })
        const job = yield* worker.invoke("ticker", { count: 40, interval_ms: 25 })
        let seen = 0
        const events = yield* watcher.subscribe({ job_id: [job.jobId] }).pipe(
          Stream.tap(() =>
            Effect.sync(() => {
              seen++
              if (seen === 5 || seen === 30) relay.cut()
            })
          ),
          Stream.takeUntil((e) => e.type === "tool.result"),
          Stream.runCollect
        )
        const list = [...events]
        const { ticks, twice } = summary(list)
        const first = ticks[0] ?? 0
        assert.deepStrictEqual(ticks, Array.from({ length: 41 - first }, (_, i) => first + i), "no gap, in order")
        assert.deepStrictEqual(twice, [], "no event twice")
        assert.strictEqual(list.at(-1)?.type, "tool.result")
        assert.isAtLeast(relay.accepted(), 3, "it reconnected twice")
      }).pipe(Effect.scoped),
    30_000
  )

  it.live(
    "R13.1-1 R19-1 Effect client: a live subscription cut before its first event misses nothing: it starts again after its own subscribe request",
    () =>
      Effect.gen(function*() {
        const { relay, server } = yield* relayedRuntime([ticker])
        const worker = yield* ArcpClient.connect(server.address, { credentials })
        const watcher = yield* ArcpClient.connect(relay.url, { credentials, reconnect: { initialDelay: 20 } })
        const answers = yield* watcher.messages
        const accepted = yield* answers.pipe(
          Stream.filter((m) => m.type === "subscribe.accepted"),
          Stream.runHead,
          Effect.fork
        )
        const watched = yield* watcher.subscribe({ session_id: [worker.id], types: ["job.progress", "tool.result"] })
          .pipe(Stream.takeUntil((e) => e.type === "tool.result"), Stream.runCollect, Effect.fork)
        yield* Fiber.join(accepted)
        // cut while nothing was delivered; the job runs (and ends) while the watcher is away
        relay.cut()
        const job = yield* worker.invoke("ticker", { count: 10 })
        yield* job.outcome
        const { ticks, twice } = summary([...(yield* Fiber.join(watched))])
        assert.deepStrictEqual(ticks, Array.from({ length: 10 }, (_, i) => i + 1), "every tick, from the first")
        assert.deepStrictEqual(twice, [], "no event twice")
        assert.isAtLeast(relay.accepted(), 2, "it reconnected")
      }).pipe(Effect.scoped),
    30_000
  )

  it(
    "R19-4 R19-1 a resume the runtime cannot serve (replay turned off) ends the session with ClientError DataLoss: the job's result and the subscription reject with it",
    async () => {
      await withRuntime(async (_server, relay) => {
        const session = await connect(relay.url, { credentials, reconnect: { initialDelay: 20 } })
        const job = await session.invoke("ticker", { count: 400, interval_ms: 20 })
        const watching = (async () => {
          for await (const _ of session.subscribe({ job_id: [job.jobId] })) {
            // nothing to do: the stream ends with the session
          }
        })()
        const result = job.result.then(() => undefined, (e: unknown) => e)
        const watched = watching.then(() => undefined, (e: unknown) => e)
        for await (const event of job.events) {
          if (event.type === "job.progress") break
        }
        relay.cut()
        const error = await result
        assert.deepStrictEqual(
          [
            Reflect.get(Object(error), "_tag"),
            Reflect.get(Object(error), "reason"),
            Reflect.get(Object(error), "code")
          ],
          ["ClientError", "DataLoss", "DATA_LOSS"]
        )
        const stopped = await watched
        assert.strictEqual(Reflect.get(Object(stopped), "reason"), "DataLoss")
        await session.close()
      }, { replayRetention: "0 seconds" })
    },
    30_000
  )
})
