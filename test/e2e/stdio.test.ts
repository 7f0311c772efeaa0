/** The runtime over real stdio pipes to a spawned `arcp serve --transport stdio`. */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import { join } from "node:path"
import * as Client from "../../src/client/Client.js"
import { make as makeEnvelope } from "../../src/protocol/Envelope.js"
import { encodeUnchecked } from "../../src/protocol/Message.js"
import * as Stdio from "../../src/transport/Stdio.js"
import { field } from "../support/Harness.js"
import { rawSession } from "./CoreSuite.js"

const root = join(import.meta.dirname, "..", "..")

/** A child `arcp serve --transport stdio` and a connection over its pipes; killed with the scope. */
const spawnServer = Effect.gen(function*() {
  const child = yield* Effect.acquireRelease(
    Effect.sync(() =>
      spawn("node", [join(root, "bin", "arcp.js"), "serve", "--transport", "stdio", "--bearer", "good-token=alice", "--db", ":memory:", "--max-frame-bytes", "4096"], {
        cwd: root,
        stdio: ["pipe", "pipe", "ignore"]
      })),
    (c) => Effect.sync(() => c.kill("SIGTERM"))
  )
  return yield* Stdio.make({ input: child.stdout, output: child.stdin, label: "child stdio" })
})

describe("runtime over stdio (child process)", () => {
  it.scopedLive("R4.1-1 R22-1 R8.1-2 handshake, pre-acceptance drop, ping, bad frames and a job over stdio pipes", () =>
    Effect.gen(function*() {
      const connection = yield* spawnServer
      yield* connection.send(encodeUnchecked(yield* makeEnvelope("ping", {}))) // before acceptance: dropped
      const { read } = yield* rawSession(connection)
      yield* connection.send("{ malformed")
      const nack = yield* read.next
      assert.deepStrictEqual([nack.type, field(nack, "code")], ["nack", "INVALID_ARGUMENT"])
      yield* connection.send(JSON.stringify({ arcp: "1.0", id: "msg_big", timestamp: "2026-05-09T13:00:00Z", type: "ping", payload: { pad: "y".repeat(10_000) } }))
      const big = yield* read.next
      assert.deepStrictEqual([big.type, big.correlation_id], ["nack", "msg_big"])
      yield* connection.send(JSON.stringify({ arcp: "1.0", id: "msg_u", timestamp: "2026-05-09T13:00:00Z", type: "job.teleport", payload: {} }))
      assert.strictEqual(field(yield* read.next, "code"), "UNIMPLEMENTED")
      const ping = yield* makeEnvelope("ping", {})
      yield* connection.send(encodeUnchecked(ping))
      const pong = yield* read.next
      assert.deepStrictEqual([pong.type, pong.correlation_id], ["pong", ping.id])
      const invoke = yield* makeEnvelope("tool.invoke", { tool: "echo", arguments: { via: "stdio" } })
      yield* connection.send(encodeUnchecked(invoke))
      let last = yield* read.next
      while (last.type !== "tool.result") last = yield* read.next
      assert.deepStrictEqual(last.payload, { value: { via: "stdio" } })
    }), { timeout: 30_000 })

  it.scopedLive("R4.6-1 a wrong token over stdio is rejected UNAUTHENTICATED", () =>
    Effect.gen(function*() {
      const connection = yield* spawnServer
      const error = yield* Effect.flip(Client.connect(connection, { credentials: { scheme: "bearer", token: "wrong" } }))
      assert.strictEqual(error._tag === "ArcpError" ? error.code : error._tag, "UNAUTHENTICATED")
    }), { timeout: 30_000 })
})
