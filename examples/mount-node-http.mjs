// Mounting arcp on a node:http server the application already runs: WebSocket upgrades of /arcp
// become ARCP sessions, the observer dashboard is served under /dashboard/, every other request stays the
// application's. (node:https works the same way: the page then connects over wss://.)
import { createServer as createHttpServer } from "node:http"
import { AnyArguments, attach, attachDashboard, connect, tool } from "arcp/promise"

const app = createHttpServer((request, response) => response.end(`the application answers ${request.url}`))
await new Promise((resolve) => app.listen(0, "127.0.0.1", resolve))
const base = `127.0.0.1:${app.address().port}`

const shout = tool({ name: "shout", parameters: AnyArguments, handler: async ({ text }) => String(text).toUpperCase() })
const arcp = await attach(app, {
  path: "/arcp",
  logLevel: "warning",
  auth: { bearer: new Map([["secret", "alice"]]) },
  tools: [shout]
})

// the page's config names the runtime above: ws://<host>/arcp on this same server
const dashboard = await attachDashboard(app, { path: "/dashboard", arcpPath: "/arcp" })
console.log(`dashboard http://${base}${dashboard.path}`)
const config = await (await fetch(`http://${base}${dashboard.path}config.json`)).json()
console.log(`dashboard connects to ${config.ws_url}`)

const session = await connect(`ws://${base}/arcp`, { credentials: { scheme: "bearer", token: "secret" } })
const job = await session.invoke("shout", { text: "hello from node:http" })
console.log(`result ${JSON.stringify(await job.result)}`)
console.log(await (await fetch(`http://${base}/health`)).text())
await session.close()
await dashboard.close()
await arcp.close()
app.close()
