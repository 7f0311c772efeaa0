/**
 * Durable before the client sees it (§6.4): what cannot be recorded is not
 * sent (the session ends UNAVAILABLE), and a connection that goes away however
 * it ends — even with its fiber interrupted — leaves its jobs' later events,
 * terminal included, in the log.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer, Queue } from "effect"
import { make as makeEnvelope } from "../../../src/protocol/Envelope.js"
import { SessionId } from "../../../src/protocol/Ids.js"
import { type Decoded, encodeUnchecked } from "../../../src/protocol/Message.js"
import { ArcpRuntime } from "../../../src/runtime/Runtime.js"
import * as Tools from "../../../src/runtime/Tools.js"
import { EventLog, EventLogError, type LoggedEnvelope } from "../../../src/store/EventLog.js"
import * as MemoryEventLog from "../../../src/store/MemoryEventLog.js"
import * as MemoryScheduleStore from "../../../src/store/MemoryScheduleStore.js"
import * as Memory from "../../../src/transport/Memory.js"
import type { Connection } from "../../../src/transport/Transport.js"
import { reader } from "../../support/CoreServer.js"
import { dial, field, memory, open, serverLayer, TOKEN } from "../../support/Harness.js"

/** The memory log, with outbound recording that fails while `state.failing`, and a queue of what it recorded. */
const flakyLog = (state: { failing: boolean }, recorded: Queue.Queue<LoggedEnvelope>) =>
  Layer.effect(
    EventLog,
    Effect.map(EventLog, (log) =>
      EventLog.of({
        ...log,
        recordOutbound: (envelopes) =>
          state.failing
            ? Effect.fail(new EventLogError({ reason: "Write", message: "disk full" }))
            : Effect.tap(log.recordOutbound(envelopes), () => Queue.offerAll(recorded, envelopes))
      }))
  ).pipe(Layer.provide(MemoryEventLog.layer), Layer.merge(MemoryScheduleStore.layer))

const openRaw = (connection: Connection) =>
  Effect.gen(function*() {
    const read = yield* reader(connection)
    const hello = yield* makeEnvelope("session.open", {
      auth: { scheme: "bearer", token: TOKEN },
      client: { kind: "raw", version: "1" },
      capabilities: {}
    })
    yield* connection.send(encodeUnchecked(hello))
    const accepted = yield* read.next
    assert.strictEqual(accepted.type, "session.accepted")
    const header = { session_id: SessionId.make(accepted.session_id ?? "") }
    const send = (envelope: Effect.Effect<Decoded>) =>
      Effect.tap(envelope, (e) => connection.send(encodeUnchecked({ ...e, ...header })))
    return { read, send, header }
  })

describe("recording outbound envelopes", () => {
  it.scoped("R6.4-1 R8.5-1 when recording fails nothing unrecorded is sent: the session is evicted UNAVAILABLE", () =>
    Effect.gen(function*() {
      const state = { failing: false }
      const recorded = yield* Queue.unbounded<LoggedEnvelope>()
      yield* Effect.gen(function*() {
        const connection = yield* dial
        const { read, send } = yield* openRaw(connection)
        state.failing = true
        const ping = yield* send(makeEnvelope("ping", {}))
        const first = yield* read.next
        assert.deepStrictEqual([first.type, field(first, "reason")], ["session.evicted", "UNAVAILABLE"])
        yield* Deferred.await(read.ended)
        const rest = yield* Queue.takeAll(read.queue)
        assert.isFalse([...rest].some((m) => m.correlation_id === ping.id), "the unrecorded pong was not sent")
        // the runtime carries on once the log does
        state.failing = false
        yield* Effect.scoped(Effect.flatMap(open(), (session) => session.ping))
      }).pipe(Effect.provide(serverLayer({ transport: memory, eventLog: flakyLog(state, recorded) })))
    }))

  it.scopedLive(
    "R8.5-2 R10.2-1 jobs of a connection whose fiber is interrupted are detached: their terminal reaches the log",
    () =>
      Effect.gen(function*() {
        const gate = yield* Deferred.make<void>()
        const recorded = yield* Queue.unbounded<LoggedEnvelope>()
        const gated = Tools.make({
          name: "gated",
          parameters: Tools.AnyArguments,
          handler: () => Effect.as(Deferred.await(gate), { opened: true })
        })
        yield* Effect.gen(function*() {
          const runtime = yield* ArcpRuntime
          const [client, server] = yield* Memory.makePair()
          const connectionFiber = yield* Effect.fork(runtime.handle(server))
          const { read, send } = yield* openRaw(client)
          yield* send(makeEnvelope("tool.invoke", { tool: "gated", arguments: {} }))
          let started: Decoded | undefined
          while (started?.type !== "job.started") started = yield* read.next
          // a forced shutdown: the connection's fiber is interrupted, not closed
          yield* Fiber.interrupt(connectionFiber)
          yield* Deferred.succeed(gate, undefined)
          const terminal = yield* Effect.repeat(Queue.take(recorded), {
            until: (e) => e.job_id === started.job_id && e.type === "tool.result"
          }).pipe(Effect.timeoutFail({ duration: "20 seconds", onTimeout: () => "the terminal never reached the log" }))
          assert.strictEqual(terminal.session_id, started.session_id)
        }).pipe(
          Effect.provide(
            serverLayer({ transport: memory, eventLog: flakyLog({ failing: false }, recorded), tools: [gated] })
          )
        )
      }),
    30_000
  )
})
