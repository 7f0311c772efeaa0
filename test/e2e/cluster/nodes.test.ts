/**
 * N runtimes as one (issue 17), black-box: three real `arcp serve --store postgres://...` children on
 * one throwaway PostgreSQL, clients spread over them over real WebSockets. One node is killed with
 * SIGKILL mid-job: another takes its resumable job over from its checkpoint, its session is taken back
 * on another node with no gap and no duplicate, and a subscriber on a third node sees every node's
 * events, each job's in order.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import type { ChildProcess } from "node:child_process"
import { join } from "node:path"
import { serveOn, stopWith } from "../../support/Child.js"
import { type Cluster, pgUnavailable, startCluster } from "../../support/cluster/Postgres.js"
import { freePort, RawWs, type Received } from "../../support/RawWs.js"
import { withTempDir } from "../../support/TempDir.js"

const tickOf = (m: Received) => Number(m.payload.current)

/** Opens a session as alice, offering subscriptions; `sessionId` takes one back. */
const openOn = async (url: string, sessionId?: string) => {
  const ws = await RawWs.open(url)
  const open = ws.send("session.open", {
    auth: { scheme: "bearer", token: "tok-a" },
    client: { kind: "raw", version: "1" },
    capabilities: { subscriptions: true }
  }, sessionId === undefined ? {} : { session_id: sessionId })
  const accepted = await ws.next((m) => m.correlation_id === open)
  assert.strictEqual(accepted.type, "session.accepted", JSON.stringify(accepted.payload))
  return { ws, sessionId: String(accepted.payload.session_id) }
}

/** The inner envelope of a subscribe.event. */
const inner = (m: Received): Received => Object(m.payload.event)

let cluster: Cluster | undefined

if (pgUnavailable !== undefined) console.warn(`three-node PostgreSQL test skipped: ${pgUnavailable}`)

describe.skipIf(pgUnavailable !== undefined)("three arcp serve on one PostgreSQL", () => {
  beforeAll(async () => {
    cluster = await startCluster()
  }, 60_000)
  afterAll(() => cluster?.stop())

  it(
    "R4.3-2 R4.3-3 R19-3 kill -9 one node mid-job: its job is taken over and its session resumed elsewhere, no gap, no duplicate; a subscriber sees every node's events; a cancel crosses nodes",
    () =>
      withTempDir("arcp-nodes-", async (dir) => {
        if (cluster === undefined) throw new Error("no cluster")
        const store = await cluster.freshDatabase()
        const args = [
          "--store",
          store,
          "--artifacts-dir",
          join(dir, "artifacts"),
          "--bearer",
          "tok-a=alice",
          "--instance-heartbeat",
          "1",
          "--instance-lapse",
          "3"
        ]
        const ports = [await freePort(), await freePort(), await freePort()]
        const children: Array<ChildProcess> = []
        try {
          for (const port of ports) children.push(await serveOn(port, args))
          const [urlA, urlB, urlC] = ports.map((p) => `ws://127.0.0.1:${p}`)
          if (urlA === undefined || urlB === undefined || urlC === undefined) throw new Error("three ports")

          // the watcher on C follows the progress and results of every session of alice, on every node
          const watcher = await openOn(urlC)
          const subscribe = watcher.ws.send("subscribe", { filter: { types: ["job.progress", "tool.result"] } }, {
            session_id: watcher.sessionId
          })
          assert.strictEqual((await watcher.ws.next((m) => m.correlation_id === subscribe)).type, "subscribe.accepted")

          const onA = await openOn(urlA)
          const onB = await openOn(urlB)
          const long = onA.ws.send("tool.invoke", { tool: "ticker", arguments: { count: 40, interval_ms: 50 } }, {
            session_id: onA.sessionId
          })
          const short = onB.ws.send("tool.invoke", { tool: "ticker", arguments: { count: 10, interval_ms: 20 } }, {
            session_id: onB.sessionId
          })
          const longJob = String(
            (await onA.ws.next((m) => m.type === "job.accepted" && m.correlation_id === long)).job_id
          )
          await onA.ws.next((m) => m.type === "job.progress" && tickOf(m) >= 5)
          const killedAt = performance.now()
          await stopWith(children[0] ?? assert.fail("node A"), "SIGKILL")
          await onA.ws.closed
          const before = [...onA.ws.received]
          const last = before[before.length - 1]

          // the session comes back on B; the job, taken over by B or C, goes on from its checkpoint
          const back = await openOn(urlB, onA.sessionId)
          const resume = back.ws.send("resume", { after_message_id: last?.id }, { session_id: onA.sessionId })
          assert.strictEqual((await back.ws.next((m) => m.correlation_id === resume)).type, "ack")
          const firstAfter = await back.ws.next((m) => m.type === "job.progress" && m.job_id === longJob)
          const takeoverMs = performance.now() - killedAt
          const result = await back.ws.next((m) => m.type === "tool.result" && m.correlation_id === long)
          assert.deepStrictEqual(result.payload.value, { count: 40 })
          const all = [...before, ...back.ws.received]
          const ids = all.map((m) => m.id)
          assert.deepStrictEqual(all.filter((m, i) => ids.indexOf(m.id) !== i).map((m) => m.type), [], "no duplicate")
          assert.deepStrictEqual(
            all.filter((m) => m.type === "job.progress" && m.job_id === longJob).map(tickOf),
            Array.from({ length: 40 }, (_, i) => i + 1),
            "every tick once, in order"
          )
          assert.isAbove(tickOf(firstAfter), 5)
          await onB.ws.next((m) => m.type === "tool.result" && m.correlation_id === short)

          // the watcher on C saw both jobs (run on A, then B or C, and on B), each in order, nothing twice
          await watcher.ws.next((m) => m.type === "subscribe.event" && inner(m).correlation_id === long)
          const seen = watcher.ws.received.filter((m) => m.type === "subscribe.event").map(inner)
          const seenIds = seen.map((m) => m.id)
          assert.deepStrictEqual(seen.filter((m, i) => seenIds.indexOf(m.id) !== i), [], "nothing twice")
          const ticksOf = (correlation: string) => {
            const job = seen.find((m) => m.type === "tool.result" && m.correlation_id === correlation)?.job_id
            return seen.filter((m) => m.type === "job.progress" && m.job_id === job).map(tickOf)
          }
          assert.deepStrictEqual(ticksOf(long), Array.from({ length: 40 }, (_, i) => i + 1))
          assert.deepStrictEqual(ticksOf(short), Array.from({ length: 10 }, (_, i) => i + 1))
          console.info(`three nodes: the killed node's job went on ${Math.round(takeoverMs)} ms after kill -9`)

          // a cancel sent to C reaches the job running on B (through the log and LISTEN/NOTIFY)
          const endless = onB.ws.send(
            "tool.invoke",
            { tool: "ticker", arguments: { count: 100_000, interval_ms: 20 } },
            { session_id: onB.sessionId }
          )
          const endlessJob = String(
            (await onB.ws.next((m) => m.type === "job.accepted" && m.correlation_id === endless)).job_id
          )
          const cancel = watcher.ws.send("cancel", { target: "job", target_id: endlessJob, reason: "from C" }, {
            session_id: watcher.sessionId
          })
          assert.strictEqual((await watcher.ws.next((m) => m.correlation_id === cancel)).type, "cancel.accepted")
          const cancelled = await onB.ws.next((m) => m.job_id === endlessJob && m.type === "job.cancelled")
          assert.strictEqual(cancelled.payload.reason, "from C")
          for (const c of [watcher, onB, back]) c.ws.close()
        } finally {
          for (const child of children) await stopWith(child, "SIGTERM")
        }
      }),
    180_000
  )
})
