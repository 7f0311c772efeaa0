// Resume after a dropped connection (§19): the client reconnects on its own, takes its session back and
// Run: node examples/11-resume-after-drop.mjs
// resumes after the last message it saw, so the job's event stream goes on without a gap or a repeat.
// A small TCP relay stands between client and runtime, so that the example can cut the connection mid-job
// as a flaky network would.
import net from "node:net"
import { AnyArguments, connect, createServer, tool } from "arcp/promise"

const count = tool({
  name: "count",
  parameters: AnyArguments,
  handler: async ({ to }, ctx) => {
    for (let current = 1; current <= to; current++) {
      await new Promise((resolve) => setTimeout(resolve, 50))
      await ctx.progress({ current, total: to })
    }
    return { counted: to }
  }
})

const server = await createServer({
  port: 0,
  logLevel: "warning",
  auth: { bearer: new Map([["secret", "alice"]]) },
  tools: [count]
})
const runtime = new URL(server.address)

// the relay: every connection through it is piped to the runtime, and can be cut
const open = new Set()
const relay = net.createServer((client) => {
  const upstream = net.connect(Number(runtime.port), runtime.hostname)
  const cut = () => {
    client.destroy()
    upstream.destroy()
  }
  for (const socket of [client, upstream]) {
    open.add(socket)
    socket.on("error", cut)
    socket.on("close", cut)
  }
  client.pipe(upstream).pipe(client)
})
await new Promise((resolve) => relay.listen(0, "127.0.0.1", resolve))

const session = await connect(`ws://127.0.0.1:${relay.address().port}`, {
  credentials: { scheme: "bearer", token: "secret" },
  // the default policy, with a shorter first delay: 8 attempts, backoff doubling with jitter
  reconnect: { initialDelay: 50 }
})
const job = await session.invoke("count", { to: 10 })
const ticks = []
for await (const event of job.events) {
  if (event.type !== "job.progress") continue
  ticks.push(event.payload.current)
  if (event.payload.current === 3) {
    console.log("cutting the connection")
    for (const socket of open) socket.destroy()
    open.clear()
  }
}
console.log(`ticks ${ticks.join(",")}`)
console.log(`result ${JSON.stringify(await job.result)}`)
await session.close()
relay.close()
await server.close()
