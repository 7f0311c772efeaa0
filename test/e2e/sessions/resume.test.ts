/**
 * Sessions that outlive their connection (§9, §19) and jobs that outlive their runtime (§4.3),
 * black-box: a real `arcp serve` child on a SQLite file, driven over a real WebSocket.
 */
import { assert, describe, it } from "@effect/vitest"
import { type ChildProcess, spawn } from "node:child_process"
import { join } from "node:path"
import { bin, root, serveOn, stopWith } from "../../support/Child.js"
import { freePort, RawWs, type Received } from "../../support/RawWs.js"
import { withTempDir } from "../../support/TempDir.js"

const tickOf = (m: Received) => Number(m.payload.current)

/** A server on a fresh --db (alice: tok-a, bob: tok-b), stopped after `body`. */
const withServer = (
  extra: ReadonlyArray<string>,
  body: (ctx: { url: string; port: number; args: ReadonlyArray<string>; db: string }) => Promise<void>
) =>
  withTempDir("arcp-resume-", async (dir) => {
    const db = join(dir, "arcp.db")
    const port = await freePort()
    const args = ["--db", db, "--bearer", "tok-a=alice", "--bearer", "tok-b=bob", ...extra]
    await body({ url: `ws://127.0.0.1:${port}`, port, args, db })
  })

describe("resume over a real WebSocket", () => {
  it(
    "R9-3 R9-8 R19-1 R19-3 a dropped socket mid-job: the session is taken back and resumed, no gap, no duplicate, same ids",
    async () => {
      await withServer([], async ({ args, port, url }) => {
        const server = await serveOn(port, args)
        try {
          const first = await RawWs.open(url)
          const accepted = await first.handshake("tok-a")
          assert.strictEqual(accepted.type, "session.accepted")
          const sessionId = String(accepted.payload.session_id)
          const invoke = first.send("tool.invoke", { tool: "ticker", arguments: { count: 20, interval_ms: 40 } }, {
            session_id: sessionId
          })
          await first.next((m) => m.type === "job.progress" && tickOf(m) >= 4)
          first.terminate()
          await first.closed
          const seenBefore = [...first.received]
          const last = seenBefore[seenBefore.length - 1]
          assert.isDefined(last)

          const second = await RawWs.open(url)
          const back = await second.handshake("tok-a", sessionId)
          assert.deepStrictEqual([back.type, back.payload.session_id], ["session.accepted", sessionId])
          const resume = second.send("resume", { after_message_id: last?.id }, { session_id: sessionId })
          const ack = await second.next((m) => m.correlation_id === resume)
          assert.strictEqual(ack.type, "ack")
          const result = await second.next((m) => m.type === "tool.result" && m.correlation_id === invoke)
          assert.deepStrictEqual(result.payload.value, { count: 20 })
          second.close()

          const all = [...seenBefore, ...second.received]
          const ids = all.map((m) => m.id)
          const twice = all.filter((m, i) => ids.indexOf(m.id) !== i).map((m) => m.type)
          assert.deepStrictEqual(twice, [], "no envelope twice")
          const jobId = result.job_id
          const ticks = all.filter((m) => m.type === "job.progress" && m.job_id === jobId).map(tickOf)
          assert.deepStrictEqual(ticks, Array.from({ length: 20 }, (_, i) => i + 1), "every tick once, in order")
          assert.isTrue(second.received.every((m) => m.session_id === sessionId), "the same session")
        } finally {
          await stopWith(server, "SIGTERM")
        }
      })
    },
    120_000
  )

  it(
    "R4.3-2 R4.3-3 R19-3 kill -9 mid-job, restart on the same --db: the ticker resumes from its checkpoint, every tick once",
    async () => {
      await withServer([], async ({ args, port, url }) => {
        const before = await serveOn(port, args)
        const first = await RawWs.open(url)
        const sessionId = String((await first.handshake("tok-a")).payload.session_id)
        const invoke = first.send("tool.invoke", { tool: "ticker", arguments: { count: 15, interval_ms: 60 } }, {
          session_id: sessionId
        })
        await first.next((m) => m.type === "job.progress" && tickOf(m) >= 5)
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
          assert.deepStrictEqual(result.payload.value, { count: 15 })
          second.close()
          const all = [...first.received, ...second.received]
          const ids = all.map((m) => m.id)
          const twice = all.filter((m, i) => ids.indexOf(m.id) !== i).map((m) => m.type)
          assert.deepStrictEqual(twice, [], "no envelope twice")
          const ticks = all.filter((m) => m.type === "job.progress" && m.job_id === result.job_id).map(tickOf)
          assert.deepStrictEqual(ticks, Array.from({ length: 15 }, (_, i) => i + 1), "every tick once, in order")
          const started = all.filter((m) => m.type === "job.started" && m.job_id === result.job_id)
          assert.strictEqual(started.length, 2, "job.started again after the restart")
          assert.match(String(started[1]?.payload.checkpoint_id), /^chk_/, "naming the checkpoint it continues from")
        } finally {
          await stopWith(after, "SIGTERM")
        }
      })
    },
    120_000
  )

  it(
    "R9-3 R9-5 another principal cannot take a session back, and learns nothing (same answer as an unknown id)",
    async () => {
      await withServer([], async ({ args, port, url }) => {
        const server = await serveOn(port, args)
        try {
          const alice = await RawWs.open(url)
          const sessionId = String((await alice.handshake("tok-a")).payload.session_id)
          alice.terminate()
          const bob = await RawWs.open(url)
          const refused = await bob.handshake("tok-b", sessionId)
          const stranger = await RawWs.open(url)
          const unknown = await stranger.handshake("tok-b", "sess_01JZZZZZZZZZZZZZZZZZZZZZZZ")
          assert.deepStrictEqual([refused.type, refused.payload.code], ["session.rejected", "PERMISSION_DENIED"])
          assert.deepStrictEqual([unknown.type, unknown.payload.code], ["session.rejected", "PERMISSION_DENIED"])
          assert.strictEqual(
            String(refused.payload.message).replace(sessionId, "X"),
            String(unknown.payload.message).replace("sess_01JZZZZZZZZZZZZZZZZZZZZZZZ", "X")
          )
          // alice still can
          const again = await RawWs.open(url)
          assert.strictEqual((await again.handshake("tok-a", sessionId)).type, "session.accepted")
          again.close()
        } finally {
          await stopWith(server, "SIGTERM")
        }
      })
    },
    120_000
  )

  it(
    "R19-2 R19-4 an unknown after_message_id, or one past the replay retention, is answered DATA_LOSS; the session goes on",
    async () => {
      await withServer(["--replay-retention", "0"], async ({ args, port, url }) => {
        const server = await serveOn(port, args)
        try {
          const ws = await RawWs.open(url)
          const accepted = await ws.handshake("tok-a")
          const sessionId = String(accepted.payload.session_id)
          const old = ws.send("resume", { after_message_id: accepted.id }, { session_id: sessionId })
          const tooOld = await ws.next((m) => m.correlation_id === old)
          assert.deepStrictEqual([tooOld.type, tooOld.payload.code], ["nack", "DATA_LOSS"])
          const unknown = ws.send("resume", { after_message_id: "msg_01JZZZZZZZZZZZZZZZZZZZZZZZ" }, {
            session_id: sessionId
          })
          const lost = await ws.next((m) => m.correlation_id === unknown)
          assert.deepStrictEqual([lost.type, lost.payload.code], ["nack", "DATA_LOSS"])
          const ping = ws.send("ping", {}, { session_id: sessionId })
          assert.strictEqual((await ws.next((m) => m.correlation_id === ping)).type, "pong")
          ws.close()
        } finally {
          await stopWith(server, "SIGTERM")
        }
      })
    },
    120_000
  )

  it(
    "R19-1 R18.3-1 R4.3-2 `arcp send --tool` survives a server restart mid-job: it reconnects, resumes, and prints every tick once",
    async () => {
      await withServer([], async ({ args, port, url }) => {
        const before = await serveOn(port, args)
        let after: ChildProcess | undefined
        try {
          const send = spawn("node", [
            bin,
            "send",
            "--url",
            url,
            "--token",
            "tok-a",
            "--tool",
            "ticker",
            "--args",
            JSON.stringify({ count: 12, interval_ms: 80 }),
            "--wait",
            "60000"
          ], { cwd: root, stdio: ["ignore", "pipe", "pipe"] })
          let stdout = ""
          let stderr = ""
          const exited = new Promise<number | null>((resolve) => send.once("exit", resolve))
          send.stderr.on("data", (chunk: Buffer) => {
            stderr += chunk.toString()
          })
          const fourth = new Promise<void>((resolve) => {
            send.stdout.on("data", (chunk: Buffer) => {
              stdout += chunk.toString()
              if (/"current":4\b/.test(stdout)) resolve()
            })
          })
          await fourth
          await stopWith(before, "SIGKILL")
          after = await serveOn(port, args)
          assert.strictEqual(await exited, 0, stderr)
          const lines = stdout.trim().split("\n").map((l): Received => JSON.parse(l))
          const ids = lines.map((m) => m.id)
          assert.strictEqual(new Set(ids).size, ids.length, "no line twice")
          const ticks = lines.filter((m) => m.type === "job.progress").map(tickOf)
          assert.deepStrictEqual(
            ticks,
            Array.from({ length: 12 }, (_, i) => i + 1),
            lines.map((m) => `${m.type}:${String(m.payload.current ?? m.payload.checkpoint_id ?? "")}`).join(" ") +
              stderr
          )
          assert.strictEqual(lines.at(-1)?.type, "tool.result")
        } finally {
          await stopWith(before, "SIGKILL")
          if (after !== undefined) await stopWith(after, "SIGTERM")
        }
      })
    },
    120_000
  )
})
