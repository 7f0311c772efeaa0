/**
 * `arcp serve --store postgres://...` black-box: real children on a throwaway PostgreSQL cluster, driven
 * over a real WebSocket; a restart takes the session back from the database.
 */
import { assert, describe, it } from "@effect/vitest"
import { join } from "node:path"
import { runArcp, serveOn, stopWith } from "../../support/Child.js"
import { pgUnavailable, usePgCluster } from "../../support/cluster/Postgres.js"
import { freePort, RawWs, type Received } from "../../support/RawWs.js"
import { withTempDir } from "../../support/TempDir.js"

const tickOf = (m: Received) => Number(m.payload.current)

describe.skipIf(pgUnavailable !== undefined)("arcp serve --store postgres://", () => {
  const { cluster } = usePgCluster()

  it(
    "R4.3-2 R19-3 echo and a ticker over WebSocket; kill -9 mid-job, restart on the same database: the session and the ticker resume, every tick once",
    () =>
      withTempDir("arcp-pg-serve-", async (dir) => {
        const store = await cluster().freshDatabase()
        const port = await freePort()
        const url = `ws://127.0.0.1:${port}`
        const args = ["--store", store, "--artifacts-dir", join(dir, "artifacts"), "--bearer", "tok-a=alice"]
        const before = await serveOn(port, args)
        const first = await RawWs.open(url)
        const sessionId = String((await first.handshake("tok-a")).payload.session_id)
        const echo = first.send("tool.invoke", { tool: "echo", arguments: { hello: "pg" } }, { session_id: sessionId })
        const echoed = await first.next((m) => m.type === "tool.result" && m.correlation_id === echo)
        assert.deepStrictEqual(echoed.payload.value, { hello: "pg" })
        const invoke = first.send("tool.invoke", { tool: "ticker", arguments: { count: 12, interval_ms: 60 } }, {
          session_id: sessionId
        })
        await first.next((m) => m.type === "job.progress" && tickOf(m) >= 4)
        await stopWith(before, "SIGKILL")
        await first.closed
        const last = first.received[first.received.length - 1]

        const after = await serveOn(port, args)
        try {
          const second = await RawWs.open(url)
          const back = await second.handshake("tok-a", sessionId)
          assert.deepStrictEqual([back.type, back.payload.session_id], ["session.accepted", sessionId])
          second.send("resume", { after_message_id: last?.id }, { session_id: sessionId })
          const result = await second.next((m) => m.type === "tool.result" && m.correlation_id === invoke)
          assert.deepStrictEqual(result.payload.value, { count: 12 })
          second.close()
          const all = [...first.received, ...second.received]
          const ids = all.map((m) => m.id)
          assert.deepStrictEqual(
            all.filter((m, i) => ids.indexOf(m.id) !== i).map((m) => m.type),
            [],
            "no envelope twice"
          )
          const ticks = all.filter((m) => m.type === "job.progress" && m.job_id === result.job_id).map(tickOf)
          assert.deepStrictEqual(ticks, Array.from({ length: 12 }, (_, i) => i + 1), "every tick once, in order")
        } finally {
          await stopWith(after, "SIGTERM")
        }
      }),
    120_000
  )

  it(
    "R13-1 R6.4-2 two runtimes on one database: a subscriber on one sees the other's events; a retransmit to the other is a duplicate",
    () =>
      withTempDir("arcp-pg-two-", async (dir) => {
        const store = await cluster().freshDatabase()
        const [portA, portB] = [await freePort(), await freePort()]
        const args = ["--store", store, "--artifacts-dir", join(dir, "artifacts"), "--bearer", "tok-a=alice"]
        const [a, b] = await Promise.all([serveOn(portA, args), serveOn(portB, args)])
        try {
          const watcher = await RawWs.open(`ws://127.0.0.1:${portB}`)
          const open = watcher.send("session.open", {
            auth: { scheme: "bearer", token: "tok-a" },
            client: { kind: "raw", version: "1" },
            capabilities: { subscriptions: true }
          })
          const watching = String((await watcher.next((m) => m.correlation_id === open)).payload.session_id)
          const subscribe = watcher.send("subscribe", { filter: { types: ["tool.result"] } }, { session_id: watching })
          const accepted = await watcher.next((m) => m.correlation_id === subscribe)
          assert.strictEqual(accepted.type, "subscribe.accepted", JSON.stringify(accepted.payload))
          const worker = await RawWs.open(`ws://127.0.0.1:${portA}`)
          const working = String((await worker.handshake("tok-a")).payload.session_id)
          const invoke = worker.send("tool.invoke", { tool: "echo", arguments: { on: "A" } }, { session_id: working })
          const result = await worker.next((m) => m.type === "tool.result" && m.correlation_id === invoke)
          const eventOf = (m: Received) => m.payload.event as { id?: string; correlation_id?: string } | undefined
          const seen = await watcher.next((m) => m.type === "subscribe.event" && eventOf(m)?.correlation_id === invoke)
          assert.strictEqual(eventOf(seen)?.id, result.id, "the very envelope A sent")
          // the same message id sent again, to the other runtime: dedup holds across them
          const again = await RawWs.open(`ws://127.0.0.1:${portB}`)
          const other = String((await again.handshake("tok-a")).payload.session_id)
          again.send("tool.invoke", { tool: "echo", arguments: { on: "A" } }, { session_id: other, id: invoke })
          const replayed = await again.next((m) => m.type === "tool.result" && m.correlation_id === invoke)
          assert.strictEqual(replayed.job_id, result.job_id, "the same job, not a second one")
          for (const ws of [watcher, worker, again]) ws.close()
        } finally {
          await Promise.all([stopWith(a, "SIGTERM"), stopWith(b, "SIGTERM")])
        }
      }),
    120_000
  )

  it(
    "a PostgreSQL store that cannot be reached, or a database that does not exist: one sentence, no stack trace",
    async () => {
      const port = await freePort()
      const refused = await runArcp([
        "serve",
        "--port",
        "0",
        "--store",
        `postgres://arcp:secret@127.0.0.1:${port}/arcp`
      ])
      assert.notStrictEqual(refused.code, 0)
      assert.match(
        refused.stderr,
        /^arcp: cannot use the PostgreSQL store postgres:\/\/arcp@127\.0\.0\.1:\d+\/arcp \(.*ECONNREFUSED.*\): check the URL/m
      )
      assert.notInclude(refused.stderr, "secret", "the password is not shown")
      const missing = await runArcp(["serve", "--port", "0"], { ARCP_STORE: `${cluster().url}_nope` })
      assert.notStrictEqual(missing.code, 0)
      assert.match(missing.stderr, /database "postgres_nope" does not exist/)
      for (const run of [refused, missing]) {
        assert.strictEqual(run.stderr.trim().split("\n").length, 1, run.stderr)
        assert.notMatch(run.stderr, /\n\s+at /)
      }
    },
    60_000
  )
})
