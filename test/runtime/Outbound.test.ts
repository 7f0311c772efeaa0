/** The outbound path: priority across jobs, FIFO within a job, flush (RFC §6.5). */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Stream } from "effect"
import type { Priority } from "../../src/protocol/Envelope.js"
import { JobId } from "../../src/protocol/Ids.js"
import * as Outbound from "../../src/runtime/Outbound.js"
import type { Connection } from "../../src/transport/Transport.js"

/** A connection that holds every write until `open` completes. */
const gatedConnection = Effect.gen(function*() {
  const open = yield* Deferred.make<void>()
  const written: Array<string> = []
  const connection: Connection = {
    label: "gated",
    binary: false,
    incoming: Stream.empty,
    send: (frame) =>
      Deferred.await(open).pipe(Effect.zipRight(Effect.sync(() => {
        written.push(String(frame))
      }))),
    close: Effect.void
  }
  return { connection, open, written }
})

describe("outbound path", () => {
  it.scoped("R6.5-1 R6.5-2 R6.5-4 serves higher priorities first across jobs, never reorders within a job", () =>
    Effect.gen(function*() {
      const { connection, open, written } = yield* gatedConnection
      const outbound = yield* Outbound.make(connection)
      const event = (name: string, priority: Priority, job?: string) =>
        outbound.emit("event.emit", { name }, { priority, ...(job !== undefined ? { job_id: JobId.make(job) } : {}) })
      yield* event("L1", "low", "job_l")
      yield* event("N1", "normal", "job_n")
      yield* event("N2", "normal", "job_n")
      yield* event("C1", "critical", "job_n") // job_n's terminal: must not overtake N1, N2
      yield* event("H1", "high")
      yield* event("K1", "critical", "job_k")
      yield* Deferred.succeed(open, undefined)
      yield* outbound.flush
      const names = written.map((frame) => JSON.parse(frame).payload.name)
      assert.deepStrictEqual(names, ["K1", "H1", "N1", "N2", "C1", "L1"])
    }))

  it.scoped("the recorder sees every envelope before it is written", () =>
    Effect.gen(function*() {
      const { connection, open, written } = yield* gatedConnection
      const recorded: Array<string> = []
      const outbound = yield* Outbound.make(connection, (batch) =>
        Effect.sync(() => {
          assert.strictEqual(written.length + batch.length, recorded.length + batch.length)
          for (const { json } of batch) recorded.push(json)
        }))
      yield* Deferred.succeed(open, undefined)
      for (let i = 0; i < 50; i++) yield* outbound.emit("event.emit", { name: `e${i}` })
      yield* outbound.flush
      assert.deepStrictEqual(recorded, written)
      assert.strictEqual(written.length, 50)
    }))
})
