// Mounting arcp on a Hono application served by @hono/node-server: `serve()` returns the
// node:http server, and `attach` takes its WebSocket upgrades of /arcp.
import { serve } from "@hono/node-server"
import { Hono } from "hono"
import { AnyArguments, attach, connect, tool } from "arcp/promise"

const app = new Hono()
app.get("/health", (c) => c.text("hono says ok"))
const server = await new Promise((resolve) => {
  const listening = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, () => resolve(listening))
})
const base = `127.0.0.1:${server.address().port}`

const shout = tool({ name: "shout", parameters: AnyArguments, handler: async ({ text }) => String(text).toUpperCase() })
const arcp = await attach(server, {
  path: "/arcp",
  logLevel: "warning",
  auth: { bearer: new Map([["secret", "alice"]]) },
  tools: [shout]
})

const session = await connect(`ws://${base}/arcp`, { credentials: { scheme: "bearer", token: "secret" } })
const job = await session.invoke("shout", { text: "hello from hono" })
console.log(`result ${JSON.stringify(await job.result)}`)
console.log(await (await fetch(`http://${base}/health`)).text())
await session.close()
await arcp.close()
server.close()
