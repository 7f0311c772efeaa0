// Invoke a tool and follow its progress (RFC §10.1), the Promise flavour: the tool reports
// `job.progress` as it works; the client iterates the job's events up to the terminal, then awaits the
// result. Arguments are checked (here by a JSON Schema) before the job starts: bad ones reject INVALID_ARGUMENT.
//
// Run it: node examples/02-invoke-progress.mjs   (the built package; `node --import tsx ...` for the sources)
import { connect, createServer, jsonSchema, tool } from "arcp/promise"

const resize = tool({
  name: "resize",
  parameters: jsonSchema({
    type: "object",
    required: ["images"],
    properties: { images: { type: "integer", minimum: 1 } }
  }),
  handler: async ({ images }, ctx) => {
    for (let done = 1; done <= images; done++) {
      await new Promise((resolve) => setTimeout(resolve, 20)) // the work
      await ctx.progress({ current: done, total: images, message: `image ${done}` })
    }
    return { resized: images }
  }
})

const server = await createServer({ port: 0, logLevel: "warning", auth: { bearer: new Map([["s3cret", "alice"]]) }, tools: [resize] })
const session = await connect(server.address, { credentials: { scheme: "bearer", token: "s3cret" } })

const job = await session.invoke("resize", { images: 3 })
console.log(`accepted ${job.jobId}`)
for await (const event of job.events) {
  if (event.type === "job.progress") {
    console.log(`progress ${event.payload.current}/${event.payload.total} ${event.payload.message}`)
  } else console.log(`event ${event.type}`)
}
console.log(`result ${JSON.stringify(await job.result)}`)

await session.invoke("resize", { images: "many" }).catch((error) => console.log(`bad arguments: ${error.code}`))

await session.close()
await server.close()
