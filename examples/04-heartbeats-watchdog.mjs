// Heartbeats and the watchdog (RFC §10.3), the Promise flavour: with a 1 s heartbeat interval, the
// runtime sends `job.heartbeat` for an ordinary tool; a tool declared `liveness: "reported"` calls
// `ctx.heartbeat()` itself, and once it is silent for two intervals the job ends HEARTBEAT_LOST.
//
// Run it: node examples/04-heartbeats-watchdog.mjs   (the built package; `node --import tsx ...` for the sources)
import { AnyArguments, connect, createServer, tool } from "arcp/promise"

const sleep = (ms, signal) =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms)
    signal?.addEventListener("abort", () => {
      clearTimeout(timer)
      resolve()
    })
  })

const render = tool({ name: "render", parameters: AnyArguments, handler: () => sleep(1500).then(() => ({ frames: 24 })) })
const worker = tool({
  name: "worker",
  liveness: "reported",
  parameters: AnyArguments,
  handler: async (_args, ctx) => {
    await ctx.heartbeat()
    await sleep(500)
    await ctx.heartbeat()
    await sleep(60_000, ctx.signal) // hangs, silent, until the watchdog gives up on it
  }
})

const server = await createServer({
  port: 0,
  logLevel: "error",
  auth: { bearer: new Map([["s3cret", "alice"]]) },
  tools: [render, worker],
  heartbeatIntervalSeconds: 1
})
const session = await connect(server.address, {
  credentials: { scheme: "bearer", token: "s3cret" },
  capabilities: { heartbeat_interval_seconds: 1 }
})
console.log(`heartbeat interval ${session.capabilities.heartbeat_interval_seconds} s`)

for (const name of ["render", "worker"]) {
  const job = await session.invoke(name, {})
  for await (const event of job.events) {
    if (event.type === "job.heartbeat") console.log(`${name}: job.heartbeat #${event.payload.sequence} (${event.payload.state})`)
    if (event.type === "job.failed" || event.type === "tool.result") console.log(`${name}: ${event.type}`)
  }
  await job.result.then(
    (value) => console.log(`${name}: result ${JSON.stringify(value)}`),
    (error) => console.log(`${name}: ${error.code} ${error.message}`)
  )
}

await session.close()
await server.close()
