/**
 * Issue 7: `tool.invoke echo` with a 10,000-deep argument, over a real
 * WebSocket with the SQLite log. Under the default `--max-json-depth` it is
 * refused before anything runs; with the limit raised so it is accepted, the
 * job still ends with exactly one terminal — `tool.error` INTERNAL naming why
 * its result cannot be sent — recorded, and the session carries on.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Schedule } from "effect"
import { join } from "node:path"
import * as Client from "../../../src/client/Client.js"
import type { Decoded } from "../../../src/protocol/Message.js"
import { EventLog } from "../../../src/store/EventLog.js"
import * as SqliteEventLog from "../../../src/store/SqliteEventLog.js"
import { collectUntil, dial, field, serverLayer, TOKEN, untilPong, webSocket } from "../../support/Harness.js"
import { tempDir } from "../../support/TempDir.js"

const LEVELS = 10_000
/** The invoke, written by hand: the argument `{"a": [[[...]]]}` nests LEVELS arrays. */
const deepInvoke = (id: string, sessionId: string) =>
  `{"arcp":"1.0","id":"${id}","type":"tool.invoke","session_id":"${sessionId}","timestamp":"2026-05-09T13:00:00Z",` +
  `"payload":{"tool":"echo","arguments":{"a":${"[".repeat(LEVELS)}${"]".repeat(LEVELS)}}}}`

const withServer = <A, E, R>(body: Effect.Effect<A, E, R>, maxJsonDepth?: number) =>
  Effect.gen(function*() {
    const dir = yield* tempDir("arcp-deep-")
    const eventLog = SqliteEventLog.layer({ filename: join(dir, "events.db") })
    const runtime = maxJsonDepth === undefined ? {} : { maxJsonDepth }
    return yield* body.pipe(Effect.provide(serverLayer({ transport: webSocket, eventLog, runtime })))
  })

const session = Effect.gen(function*() {
  const connection = yield* dial
  const opened = yield* Client.connect(connection, { credentials: { scheme: "bearer", token: TOKEN } })
  return { connection, session: opened, messages: yield* opened.messages }
})

const terminal = (m: Decoded) => Client.terminalTypes.has(m.type)

describe("a 10,000-deep argument to echo", () => {
  it.scopedLive("R6.3-3 is refused INVALID_ARGUMENT under the default limit: nothing runs, the session answers ping", () =>
    withServer(Effect.gen(function*() {
      const { connection, messages, session: s } = yield* session
      yield* connection.send(deepInvoke("msg_deep_echo", s.id))
      const answer = (yield* collectUntil(messages, (m) => m.correlation_id === "msg_deep_echo")).at(-1)
      assert.deepStrictEqual([answer?.type, field(answer, "code")], ["nack", "INVALID_ARGUMENT"])
      const after = yield* untilPong(s, messages)
      assert.isFalse(after.some((m) => m.type === "job.accepted"), "nothing was executed")
    })))

  it.scopedLive("R10.2-1 accepted under a raised limit, ends once with tool.error INTERNAL naming the reason; recorded", () =>
    withServer(
      Effect.gen(function*() {
        const { connection, messages, session: s } = yield* session
        yield* connection.send(deepInvoke("msg_deep_echo", s.id))
        const seen = yield* collectUntil(messages, terminal)
        const jobId = seen.find((m) => m.type === "job.accepted")?.job_id
        assert.deepStrictEqual(
          seen.filter((m) => m.job_id === jobId && m.type.startsWith("job.")).map((m) => m.type),
          ["job.accepted", "job.started"]
        )
        const end = seen.at(-1)
        assert.deepStrictEqual([end?.type, field(end, "code"), end?.correlation_id], [
          "tool.error",
          "INTERNAL",
          "msg_deep_echo"
        ])
        assert.include(String(field(end, "message")), "cannot be sent")
        // exactly one terminal, and the session carries on
        const after = yield* untilPong(s, messages)
        assert.strictEqual([...seen, ...after].filter((m) => m.job_id === jobId && terminal(m)).length, 1)
        const record = yield* Effect.flatMap(EventLog, (log) => log.getJob(jobId ?? "none")).pipe(
          Effect.map(Option.getOrUndefined),
          Effect.filterOrFail((r) => r?.terminal !== undefined),
          Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 100 })
        )
        assert.strictEqual(record?.state, "failed")
        assert.include(record?.terminal ?? "", "INTERNAL")
      }),
      2 * LEVELS
    ))
})
