/** The core suite over real stdio pipes to spawned `arcp serve --transport stdio` children, plus stdio specifics. */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect } from "effect"
import * as Client from "../../../src/client/Client.js"
import { make as makeEnvelope } from "../../../src/protocol/Envelope.js"
import { is } from "../../../src/protocol/Message.js"
import { dialer, spawnServe } from "../../support/Child.js"
import { cliArgs, rawSession } from "../../support/CoreServer.js"
import { collectUntil, field } from "../../support/Harness.js"
import { coreSuite } from "./CoreSuite.js"

describe("R4.1-1 R22-1 runtime core over stdio (child process)", () => {
  // each connection is its own child: stdio serves exactly one (about 1.5 s per spawn on an idle machine)
  coreSuite({ server: (options) => dialer(cliArgs(options)), timeout: 60_000 })

  it.scopedLive(
    "R22-3 a tool runs over the pipes: job events and its result travel as text frames",
    () =>
      Effect.gen(function*() {
        const { connection } = yield* spawnServe(["--bearer", "good-token=alice"])
        const { read, send } = yield* rawSession(connection)
        const invoke = yield* send(makeEnvelope("tool.invoke", { tool: "echo", arguments: { via: "stdio" } }))
        let last = yield* read.next
        assert.strictEqual(last.type, "job.accepted")
        while (last.type !== "tool.result") last = yield* read.next
        assert.deepStrictEqual([last.correlation_id, last.payload], [invoke.id, { value: { via: "stdio" } }])
      }),
    60_000
  )

  it.scopedLive(
    "R8.5-1 R8.5-2 an idle session is evicted in real time (--idle-timeout 1), and the child then exits 0",
    () =>
      Effect.gen(function*() {
        const child = yield* spawnServe(["--bearer", "good-token=alice", "--idle-timeout", "1"])
        const session = yield* Client.connect(child.connection, {
          credentials: { scheme: "bearer", token: "good-token" }
        })
        const ended = yield* session.ended
        assert.deepStrictEqual([ended.reason, ended.code], ["Evicted", "DEADLINE_EXCEEDED"])
        assert.strictEqual(yield* child.exited, 0, child.stderr())
      }),
    60_000
  )

  it.scopedLive(
    "R8.4-1 R8.4-2 R8.5-2 lease timers in real time (--session-lease 2 --refresh-deadline 1): a client that does not answer session.refresh is evicted UNAUTHENTICATED and the child exits 0; the bundled client answers and outlives its lease",
    () => {
      const args = [
        "--bearer",
        "good-token=alice",
        "--no-demo-tools",
        "--session-lease",
        "2",
        "--refresh-deadline",
        "1"
      ]
      // speaks the protocol by hand and never answers the refresh
      const silent = Effect.gen(function*() {
        const child = yield* spawnServe(args)
        const { read } = yield* rawSession(child.connection)
        const refresh = yield* read.next
        const refreshedAt = yield* Clock.currentTimeMillis
        assert.strictEqual(refresh.type, "session.refresh", child.stderr())
        assert.deepStrictEqual([field(refresh, "reason"), field(refresh, "deadline_ms")], ["lease_expiring", 1000])
        const evicted = yield* read.next
        assert.deepStrictEqual([evicted.type, field(evicted, "reason")], ["session.evicted", "UNAUTHENTICATED"])
        assert.isAtLeast(
          (yield* Clock.currentTimeMillis) - refreshedAt,
          500,
          "evicted at the deadline (1 s), not at once"
        )
        assert.strictEqual(yield* child.exited, 0, child.stderr())
      })
      // the client answers each refresh with a session.authenticate; the runtime renews with a fresh session.accepted
      const answering = Effect.gen(function*() {
        const child = yield* spawnServe(args)
        const session = yield* Client.connect(child.connection, {
          credentials: { scheme: "bearer", token: "good-token" }
        })
        const messages = yield* session.messages
        let renewals = 0
        const seen = yield* collectUntil(messages, (m) => m.type === "session.accepted" && ++renewals === 2)
        const sessionTypes = seen.map((m) => m.type).filter((t) => t.startsWith("session."))
        assert.deepStrictEqual(sessionTypes, [
          "session.refresh",
          "session.accepted",
          "session.refresh",
          "session.accepted"
        ], child.stderr())
        const [first = "", second = ""] = seen.filter(is("session.accepted")).map((m) =>
          m.payload.lease?.expires_at ?? ""
        )
        assert.isTrue(first !== "" && first < second, `each renewal carries a later lease: ${first}, ${second}`)
        // the second refresh is timed from the first renewal, so it comes no earlier than the first lease's end: the session outlived it
        yield* session.ping
      })
      return Effect.all([silent, answering], { concurrency: "unbounded", discard: true })
    },
    30_000
  )
})
