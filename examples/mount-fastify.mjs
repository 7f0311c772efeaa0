// Mounting arcp on a Fastify application: `attach` takes the Fastify instance (its node:http
// `server`) and answers WebSocket upgrades of /arcp; Fastify's routes carry on as before.
import Fastify from "fastify"
import { AnyArguments, attach, connect, tool } from "arcp/promise"

const app = Fastify()
app.get("/health", async () => "fastify says ok")
const shout = tool({ name: "shout", parameters: AnyArguments, handler: async ({ text }) => String(text).toUpperCase() })
const arcp = await attach(app, {
  path: "/arcp",
  logLevel: "warning",
  auth: { bearer: new Map([["secret", "alice"]]) },
  tools: [shout]
})
await app.listen({ port: 0, host: "127.0.0.1" })
const base = `127.0.0.1:${app.server.address().port}`

const session = await connect(`ws://${base}/arcp`, { credentials: { scheme: "bearer", token: "secret" } })
const job = await session.invoke("shout", { text: "hello from fastify" })
console.log(`result ${JSON.stringify(await job.result)}`)
console.log(await (await fetch(`http://${base}/health`)).text())
await session.close()
await arcp.close()
await app.close()
