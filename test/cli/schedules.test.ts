/**
 * Schedules through real processes: `arcp send --schedule` against `arcp serve` on a --db file,
 * then the server restarted on the same file keeps its pending schedules and fires them.
 */
import { assert, describe, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { Effect, Schedule } from "effect"
import { type ChildProcess, execFile } from "node:child_process"
import { join } from "node:path"
import * as ArcpClient from "../../src/client/ArcpClient.js"
import { SCHEDULES_EXTENSION } from "../../src/protocol/messages/Execution.js"
import { bin, root, serveWs } from "../support/Child.js"
import { withTempDir } from "../support/TempDir.js"

const send = (args: ReadonlyArray<string>) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile("node", [bin, "send", ...args], { cwd: root }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout, stderr })
    })
  })

const stop = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => {
    child.once("exit", (code) => resolve(code))
    child.kill("SIGTERM")
  })

/** The active schedules the server lists for alice (over a real WebSocket, the listing extension negotiated). */
const listed = (address: string) =>
  Effect.runPromise(Effect.scoped(Effect.flatMap(
    ArcpClient.connect(address, {
      credentials: { scheme: "bearer", token: "tok" },
      capabilities: { extensions: [SCHEDULES_EXTENSION] }
    }),
    (session) => session.listSchedules
  ))).then((all) => all.map((s) => Object(s)))

describe("arcp send --schedule and a restart", () => {
  it(
    "R4.3-6 R10.6-1 pending schedules survive a real restart on the same --db and fire after it",
    () =>
      withTempDir("arcp-sched-cli-", async (dir) => {
        const db = join(dir, "events.db")
        const args = ["--db", db, "--bearer", "tok=alice"]
        const first = await serveWs(args)
        let recurring = ""
        let soon = ""
        try {
          const every = await send([
            "--url",
            first.address,
            "--token",
            "tok",
            "--schedule",
            "{\"every\":\"FREQ=MINUTELY;INTERVAL=5\"}",
            "--tool",
            "echo",
            "--args",
            "{\"n\":1}"
          ])
          assert.strictEqual(every.code, 0, every.stderr)
          const [answer] = every.stdout.trim().split("\n").map((l) => JSON.parse(l))
          assert.strictEqual(answer.type, "job.accepted")
          recurring = String(answer.payload.job_id)
          assert.match(recurring, /^sch_/)
          const after = await send([
            "--url",
            first.address,
            "--token",
            "tok",
            "--schedule",
            "{\"after\":2}",
            "--tool",
            "echo"
          ])
          assert.strictEqual(after.code, 0, after.stderr)
          soon = String(JSON.parse(after.stdout.trim()).payload.job_id)
        } finally {
          assert.strictEqual(await stop(first.child), 0)
        }
        const second = await serveWs(args)
        try {
          const before = await listed(second.address)
          assert.include(before.map((s) => s.schedule_id), recurring, "kept across the restart")
          // the one-off fires (on time, or at start if it came due while the server was down): then it is no longer active
          await Effect.runPromise(
            Effect.promise(() => listed(second.address)).pipe(
              Effect.filterOrFail((all) => !all.some((s) => s.schedule_id === soon)),
              Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 100 })
            )
          )
        } finally {
          assert.strictEqual(await stop(second.child), 0)
        }
        const file = new Database(db, { readonly: true })
        try {
          const row = (id: string) =>
            file.prepare("SELECT state, fire_count, last_job_id FROM schedules WHERE schedule_id = ?").get(id)
          const fired = Object(row(soon))
          assert.deepStrictEqual([fired.state, fired.fire_count], ["done", 1])
          const job = Object(file.prepare("SELECT state, command_id FROM jobs WHERE job_id = ?").get(fired.last_job_id))
          assert.strictEqual(job.state, "completed")
          assert.strictEqual(Object(row(recurring)).state, "active")
        } finally {
          file.close()
        }
      }),
    150_000
  )
})
