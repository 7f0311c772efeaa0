/**
 * Resumable tools of Promise users (§4.3): a runtime embedded through the Promise adapter is killed
 * (kill -9) mid-job and started again on the same SQLite file; its `tool({ resume })` jobs go on from
 * their last checkpoint under the same job ids, and a client resuming its session sees every tick once.
 */
import { assert, describe, it } from "@effect/vitest"
import type { ChildProcess } from "node:child_process"
import { join } from "node:path"
import { root, spawnServing, stopWith } from "../../support/Child.js"
import { freePort, RawWs, type Received } from "../../support/RawWs.js"
import { withTempDir } from "../../support/TempDir.js"

const start = (port: number, db: string) =>
  spawnServing(["--import", "tsx", join(root, "test", "fixtures", "promise-resumable.ts")], {
    PORT: String(port),
    DB: db
  })

const ticksOf = (messages: ReadonlyArray<Received>, jobId: string | undefined) =>
  messages.filter((m) => m.type === "job.progress" && m.job_id === jobId).map((m) => Number(m.payload.current))

describe("Promise tools that resume", () => {
  it(
    "R4.3-3 tool({ resume }) from the Promise adapter: after kill -9 and a restart on the same db, \"rerun\" and a resume handler go on from the checkpoint, every tick once",
    () =>
      withTempDir("arcp-promise-resume-", async (dir) => {
        const db = join(dir, "arcp.db")
        const port = await freePort()
        const url = `ws://127.0.0.1:${port}`
        let after: ChildProcess | undefined
        const before = await start(port, db)
        try {
          const first = await RawWs.open(url)
          const sessionId = String((await first.handshake("tok-a")).payload.session_id)
          const count = first.send("tool.invoke", { tool: "count", arguments: { to: 12 } }, { session_id: sessionId })
          const summed = first.send("tool.invoke", { tool: "summed", arguments: { to: 12 } }, { session_id: sessionId })
          await first.next((m) => m.type === "job.checkpoint" && JSON.stringify(m.payload.snapshot) === `{"current":4}`)
          await stopWith(before, "SIGKILL")
          await first.closed
          const last = first.received[first.received.length - 1]

          after = await start(port, db)
          const second = await RawWs.open(url)
          assert.strictEqual((await second.handshake("tok-a", sessionId)).type, "session.accepted")
          second.send("resume", { after_message_id: last?.id }, { session_id: sessionId })
          const counted = await second.next((m) => m.type === "tool.result" && m.correlation_id === count)
          const resumed = await second.next((m) => m.type === "tool.result" && m.correlation_id === summed)
          second.close()
          assert.deepStrictEqual(counted.payload.value, { counted: 12, restarted: true })
          const from = Number(Reflect.get(Object(resumed.payload.value), "resumed_from"))
          assert.isAtLeast(from, 3, "the resume handler got the checkpoint")
          const all = [...first.received, ...second.received]
          const ids = all.map((m) => m.id)
          assert.deepStrictEqual(
            all.filter((m, i) => ids.indexOf(m.id) !== i).map((m) => m.type),
            [],
            "no envelope twice"
          )
          const twelve = Array.from({ length: 12 }, (_, i) => i + 1)
          assert.deepStrictEqual(ticksOf(all, counted.job_id), twelve, "rerun: every tick once, in order")
          assert.deepStrictEqual(ticksOf(all, resumed.job_id), twelve, "resume handler: every tick once, in order")
        } finally {
          await stopWith(before, "SIGKILL")
          if (after !== undefined) await stopWith(after, "SIGTERM")
        }
      }),
    60_000
  )
})
