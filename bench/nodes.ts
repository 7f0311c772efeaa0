/**
 * bench/nodes: several `arcp serve --store postgres://...` on one throwaway PostgreSQL (issue 17).
 * 1. Echo throughput with 1, 2 and 3 nodes: the same clients (spread round-robin over the nodes) each
 *    invoke `echo` one after another; invokes/s and the cost per recorded envelope, with the 1-node
 *    run as the baseline (on a 2-core machine the shape of the curve matters, not the absolute numbers).
 * 2. Takeover after `kill -9`: two nodes, a resumable ticker on the first, killed; the time until its
 *    next tick reaches the session taken back on the second node (a sweep every --instance-heartbeat 1 s;
 *    on one host the dead pid is seen at once, across hosts the lease lapses after --instance-lapse).
 * Prints numbers; asserts nothing. Skips, saying why, when PostgreSQL is not available.
 */
import type { ChildProcess } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { performance } from "node:perf_hooks"
import buildDist from "../test/support/BuildOnce.js"
import { serveOn, stopWith } from "../test/support/Child.js"
import { pgUnavailable, startCluster } from "../test/support/cluster/Postgres.js"
import { freePort, RawWs, type Received } from "../test/support/RawWs.js"

const CLIENTS = 12
const INVOKES_PER_CLIENT = 150
const TAKEOVERS = 3

const tickOf = (m: Received) => Number(m.payload.current)

const startNodes = async (count: number, store: string, dir: string) => {
  const args = ["--store", store, "--artifacts-dir", join(dir, "artifacts"), "--bearer", "bench=bench"]
  const nodes: Array<{ child: ChildProcess; url: string }> = []
  for (let i = 0; i < count; i++) {
    const port = await freePort()
    const flags = [...args, "--instance-heartbeat", "1", "--instance-lapse", "3"]
    nodes.push({ child: await serveOn(port, flags), url: `ws://127.0.0.1:${port}` })
  }
  return nodes
}

const stopNodes = async (nodes: ReadonlyArray<{ child: ChildProcess }>) => {
  for (const node of nodes) await stopWith(node.child, "SIGTERM")
}

/** One client invoking echo `count` times in a row; the envelopes it received. */
const echoClient = async (url: string, count: number) => {
  const ws = await RawWs.open(url)
  const sessionId = String((await ws.handshake("bench")).payload.session_id)
  for (let i = 0; i < count; i++) {
    const from = ws.received.length
    const id = ws.send("tool.invoke", { tool: "echo", arguments: { i } }, { session_id: sessionId })
    await ws.next((m) => m.type === "tool.result" && m.correlation_id === id, from)
  }
  ws.close()
  return ws.received.length
}

const throughput = async (count: number, store: string, dir: string) => {
  const nodes = await startNodes(count, store, dir)
  try {
    // warm-up: one round per node
    await Promise.all(nodes.map((n) => echoClient(n.url, 20)))
    const started = performance.now()
    const received = await Promise.all(
      Array.from({ length: CLIENTS }, (_, i) => echoClient(nodes[i % nodes.length]?.url ?? "", INVOKES_PER_CLIENT))
    )
    const seconds = (performance.now() - started) / 1000
    const envelopes = received.reduce((a, b) => a + b, 0)
    return { invokesPerSecond: (CLIENTS * INVOKES_PER_CLIENT) / seconds, usPerEnvelope: (seconds * 1e6) / envelopes }
  } finally {
    await stopNodes(nodes)
  }
}

const takeover = async (store: string, dir: string) => {
  const nodes = await startNodes(2, store, dir)
  const [a, b] = nodes
  if (a === undefined || b === undefined) throw new Error("two nodes")
  try {
    const first = await RawWs.open(a.url)
    const sessionId = String((await first.handshake("bench")).payload.session_id)
    const invoke = first.send("tool.invoke", { tool: "ticker", arguments: { count: 1000, interval_ms: 20 } }, {
      session_id: sessionId
    })
    await first.next((m) => m.type === "job.progress" && tickOf(m) >= 5)
    const killed = performance.now()
    await stopWith(a.child, "SIGKILL")
    await first.closed
    const last = first.received[first.received.length - 1]
    const jobId = first.received.find((m) => m.correlation_id === invoke && m.type === "job.accepted")?.job_id
    const lastTick = Math.max(...first.received.filter((m) => m.type === "job.progress").map(tickOf))
    const second = await RawWs.open(b.url)
    await second.handshake("bench", sessionId)
    second.send("resume", { after_message_id: last?.id }, { session_id: sessionId })
    await second.next((m) => m.type === "job.progress" && m.job_id === jobId && tickOf(m) > lastTick)
    const ms = performance.now() - killed
    second.close()
    return ms
  } finally {
    await stopNodes(nodes)
  }
}

if (pgUnavailable !== undefined) {
  console.log(`bench/nodes: skipped: ${pgUnavailable}`)
} else {
  buildDist()
  const cluster = await startCluster()
  const dir = mkdtempSync(join(tmpdir(), "arcp-bench-nodes-"))
  try {
    console.log(`bench/nodes: ${CLIENTS} clients x ${INVOKES_PER_CLIENT} echo invokes, spread over the nodes`)
    let baseline: number | undefined
    for (const count of [1, 2, 3]) {
      const run = await throughput(count, await cluster.freshDatabase(), dir)
      baseline ??= run.invokesPerSecond
      console.log(
        `  ${count} node(s): ${run.invokesPerSecond.toFixed(0)} invokes/s (x${
          (run.invokesPerSecond / baseline).toFixed(2)
        } of 1 node), ${run.usPerEnvelope.toFixed(0)} µs per envelope received`
      )
    }
    const times: Array<number> = []
    for (let i = 0; i < TAKEOVERS; i++) times.push(await takeover(await cluster.freshDatabase(), dir))
    times.sort((x, y) => x - y)
    console.log(
      `  takeover after kill -9 (same host, heartbeat 1 s): median ${
        times[Math.floor(times.length / 2)]?.toFixed(0)
      } ms` +
        ` (runs: ${
          times.map((t) => t.toFixed(0)).join(", ")
        } ms) until the next tick reaches the session resumed on the other node`
    )
  } finally {
    rmSync(dir, { recursive: true, force: true })
    await cluster.stop()
  }
}
