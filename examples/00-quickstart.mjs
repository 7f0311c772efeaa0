// The Promise quickstart: no Effect in sight. It imports the package by name, as an application would:
// `node examples/00-quickstart.mjs` runs the built package (npm ci builds it), and
// `node --import tsx examples/00-quickstart.mjs` the sources (through tsconfig's paths).
import { AnyArguments, connect, createServer, tool } from "arcp/promise"

const add = tool({
  name: "add",
  parameters: AnyArguments,
  handler: async ({ a, b }, ctx) => {
    await ctx.progress({ current: 1, total: 1 })
    return Number(a) + Number(b)
  }
})

const server = await createServer({ port: 0, logLevel: "warning", auth: { bearer: new Map([["secret", "alice"]]) }, tools: [add] })
const session = await connect(server.address, { credentials: { scheme: "bearer", token: "secret" } })
const job = await session.invoke("add", { a: 2, b: 3 })
for await (const event of job.events) console.log(`event ${event.type}`)
console.log(`result ${await job.result}`)
await session.close()
await server.close()
