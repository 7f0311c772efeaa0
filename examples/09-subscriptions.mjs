// One connection runs a job, another watches it (§13 subscriptions). The watcher is an operator granted
// wider observation (`observers`, like `arcp serve --observer ops`): it subscribes to the worker's session,
// gets what already happened (backfill), a marker, then the rest live. Run: node examples/09-subscriptions.mjs
import { AnyArguments, connect, createServer, isBackfillComplete, tool } from "arcp/promise"

const count = tool({
  name: "count",
  parameters: AnyArguments,
  handler: async ({ to }, ctx) => {
    for (let current = 1; current <= to; current++) await ctx.progress({ current, total: to })
    return { counted: to }
  }
})

const server = await createServer({
  port: 0,
  logLevel: "warning",
  auth: { bearer: new Map([["alice-token", "alice"], ["ops-token", "ops"]]), observers: new Map([["ops", "*"]]) },
  tools: [count]
})
const worker = await connect(server.address, { credentials: { scheme: "bearer", token: "alice-token" } })
const watcher = await connect(server.address, { credentials: { scheme: "bearer", token: "ops-token" } })

const first = await worker.invoke("count", { to: 3 })
console.log(`worker result ${JSON.stringify(await first.result)}`)

// since {}: from the start of the worker's session (the finished job is backfill), a marker, then live
let second
for await (const event of watcher.subscribe({ session_id: [worker.id], types: ["job.progress", "tool.result"] }, {})) {
  if (isBackfillComplete(event)) {
    console.log("watcher --- backfill complete, live from here ---")
    // now the worker runs another job: the watcher sees it live
    second = await worker.invoke("count", { to: 2 })
    continue
  }
  const p = event.payload
  const what = event.type === "job.progress" ? `${p.current}/${p.total}` : JSON.stringify(p.value)
  console.log(`watcher ${event.job_id === first.jobId ? "job 1" : "job 2"} ${event.type} ${what}`)
  if (second !== undefined && event.type === "tool.result" && event.job_id === second.jobId) break
}

await watcher.close()
await worker.close()
await server.close()
