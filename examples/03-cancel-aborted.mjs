// Cancel a job (RFC §10.4), the Promise flavour: a handler that honours `ctx.signal` stops and the job
// ends CANCELLED; one that ignores it past the cancel's deadline is ended by the runtime ABORTED.
//
// Run it: node examples/03-cancel-aborted.mjs   (the built package; `node --import tsx ...` for the sources)
import { AnyArguments, connect, createServer, tool } from "arcp/promise"

const sleep = (ms, signal) =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms)
    signal?.addEventListener("abort", () => {
      clearTimeout(timer)
      reject(signal.reason)
    })
  })

// passes ctx.signal on, as it would to fetch(): cancelling the job aborts the wait
const crawl = tool({ name: "crawl", parameters: AnyArguments, handler: (_args, ctx) => sleep(60_000, ctx.signal) })
// ignores the signal
const legacy = tool({ name: "legacy", parameters: AnyArguments, handler: () => sleep(1_000) })

const server = await createServer({ port: 0, logLevel: "error", auth: { bearer: new Map([["s3cret", "alice"]]) }, tools: [crawl, legacy] })
const session = await connect(server.address, { credentials: { scheme: "bearer", token: "s3cret" } })

for (const name of ["crawl", "legacy"]) {
  const job = await session.invoke(name, {})
  for await (const event of job.events) if (event.type === "job.started") break
  const answer = await job.cancel({ reason: "user pressed stop", deadlineMs: 200 })
  console.log(`${name}: ${answer.type}`)
  await job.result.catch((error) => console.log(`${name}: ended ${error.code}`))
}

await session.close()
await server.close()
