// Mounting arcp on an Express application: `app.listen()` returns the node:http server, and
// `attach` takes its WebSocket upgrades of /arcp. Express's routes carry on as before.
import express from "express"
import { AnyArguments, attach, connect, tool } from "arcp/promise"

const app = express()
app.get("/health", (_request, response) => response.send("express says ok"))
const server = await new Promise((resolve) => {
  const listening = app.listen(0, "127.0.0.1", () => resolve(listening))
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
const job = await session.invoke("shout", { text: "hello from express" })
console.log(`result ${JSON.stringify(await job.result)}`)
console.log(await (await fetch(`http://${base}/health`)).text())
await session.close()
await arcp.close()
server.close()
