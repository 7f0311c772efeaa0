/**
 * `attach`: the runtime on an application's own node:http server. Upgrades of its path are ARCP
 * sessions; upgrades of other paths stay with the application's own WebSocket handler, plain
 * requests with its request handler; closing the runtime leaves the application's server running.
 */
import { assert, describe, it } from "@effect/vitest"
import { createServer } from "node:http"
import { WebSocket, WebSocketServer } from "ws"
import { attach, connect } from "../../src/client/promise/Promise.js"

const listening = async () => {
  const app = createServer((_request, response) => response.end("app"))
  await new Promise<void>((resolve) => app.listen(0, "127.0.0.1", resolve))
  const address = app.address()
  return { app, base: `127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}` }
}

/** What a plain WebSocket to `url` first hears: its first message, or how its upgrade failed. */
const firstWord = (url: string) =>
  new Promise<string>((resolve) => {
    const ws = new WebSocket(url)
    ws.once("message", (data: Buffer) => {
      resolve(data.toString())
      ws.close()
    })
    ws.once("unexpected-response", (_request, response) => resolve(`HTTP ${response.statusCode ?? "?"}`))
    ws.once("error", (error) => resolve(`error ${error.message}`))
  })

describe("attach on an application's server", () => {
  it(
    "R4.1-2 sessions on its path; other upgrades and requests stay the application's; close leaves the server",
    async () => {
      const { app, base } = await listening()
      // the application's own WebSocket endpoint, on another path
      const own = new WebSocketServer({ noServer: true })
      app.on("upgrade", (request, socket, head) => {
        if (request.url === "/chat") own.handleUpgrade(request, socket, head, (ws) => ws.send("chat says hi"))
      })
      const arcp = await attach(app, { path: "/arcp", logLevel: "none", auth: { bearer: new Map([["t", "alice"]]) } })
      try {
        const session = await connect(`ws://${base}/arcp`, { credentials: { scheme: "bearer", token: "t" } })
        assert.match(session.id, /^sess_/)
        assert.strictEqual(await firstWord(`ws://${base}/chat`), "chat says hi")
        assert.strictEqual(await (await fetch(`http://${base}/anything`)).text(), "app")
        await session.close()
      } finally {
        await arcp.close()
      }
      // the runtime is gone from the server, the application is not
      assert.strictEqual(app.listenerCount("upgrade"), 1)
      assert.strictEqual(await (await fetch(`http://${base}/still`)).text(), "app")
      assert.strictEqual(await firstWord(`ws://${base}/chat`), "chat says hi")
      own.close()
      app.closeAllConnections()
      await new Promise((resolve) => app.close(resolve))
    },
    30_000
  )
})
