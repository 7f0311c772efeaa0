/** The core suite over real stdio pipes to spawned `arcp serve --transport stdio` children, plus stdio specifics. */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Client from "../../src/client/Client.js"
import { make as makeEnvelope } from "../../src/protocol/Envelope.js"
import { encodeUnchecked } from "../../src/protocol/Message.js"
import { dialer, spawnServe } from "../support/Child.js"
import { cliArgs, rawSession } from "../support/CoreServer.js"
import { coreSuite } from "./CoreSuite.js"

describe("R4.1-1 R22-1 runtime core over stdio (child process)", () => {
  // each connection is its own child: stdio serves exactly one (about 1.5 s per spawn on an idle machine)
  coreSuite({ server: (options) => dialer(cliArgs(options)), timeout: 60_000 })

  it.scopedLive("R22-3 a tool runs over the pipes: job events and its result travel as text frames", () =>
    Effect.gen(function*() {
      const { connection } = yield* spawnServe(["--bearer", "good-token=alice"])
      const { read } = yield* rawSession(connection)
      const invoke = yield* makeEnvelope("tool.invoke", { tool: "echo", arguments: { via: "stdio" } })
      yield* connection.send(encodeUnchecked(invoke))
      let last = yield* read.next
      assert.strictEqual(last.type, "job.accepted")
      while (last.type !== "tool.result") last = yield* read.next
      assert.deepStrictEqual([last.correlation_id, last.payload], [invoke.id, { value: { via: "stdio" } }])
    }), 60_000)

  it.scopedLive("R8.5-1 R8.5-2 an idle session is evicted in real time (--idle-timeout 1), and the child then exits 0", () =>
    Effect.gen(function*() {
      const child = yield* spawnServe(["--bearer", "good-token=alice", "--idle-timeout", "1"])
      const session = yield* Client.connect(child.connection, { credentials: { scheme: "bearer", token: "good-token" } })
      const ended = yield* session.ended
      assert.deepStrictEqual([ended.reason, ended.code], ["Evicted", "DEADLINE_EXCEEDED"])
      assert.strictEqual(yield* child.exited, 0, child.stderr())
    }), 60_000)
})
