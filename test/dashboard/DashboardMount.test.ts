/**
 * `attachDashboard`: the observer page under a path of the application's own server, its config naming the
 * runtime `attach`ed on the same server (wss when the page came over TLS); other requests stay the application's.
 */
import { assert, describe, it } from "@effect/vitest"
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { createServer, type IncomingMessage, request, type Server } from "node:http"
import { createServer as createHttpsServer, get as httpsGet } from "node:https"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { attach, attachDashboard, connect, dashboardHandler } from "../../src/client/promise/Promise.js"
import { hasOpenssl, makePki } from "../support/Pki.js"

const assets = () => {
  const dir = mkdtempSync(join(tmpdir(), "arcp-web-"))
  writeFileSync(join(dir, "index.html"), "<!doctype html><title>mounted</title>")
  writeFileSync(join(dir, "app.js"), "console.log('app')")
  writeFileSync(join(dir, "app.css"), "body{}")
  return dir
}

const listen = async (app: Server) => {
  await new Promise<void>((resolve) => app.listen(0, "127.0.0.1", resolve))
  const address = app.address()
  return `127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}`
}

/** A body fetched with headers `fetch` will not send (Host). */
const bodyOf = (url: string, headers: Record<string, string>) =>
  new Promise<string>((resolve, reject) => {
    request(url, { headers }, (res) => {
      const parts: Array<Buffer> = []
      res.on("data", (b: Buffer) => parts.push(b))
      res.on("end", () => resolve(Buffer.concat(parts).toString()))
    }).on("error", reject).end()
  })

describe("the dashboard mounted on an application's server", () => {
  it("serves the page under its path, names the runtime mounted beside it; the rest stays the application's", async () => {
    const app = createServer((request, response) => {
      if (request.url === "/health") response.end("ok")
      else response.writeHead(404).end("the application has no " + (request.url ?? ""))
    })
    const base = await listen(app)
    const arcp = await attach(app, { path: "/arcp", logLevel: "none", auth: { bearer: new Map([["t", "alice"]]) } })
    const dashboard = await attachDashboard(app, { path: "/dashboard", arcpPath: "/arcp", assets: assets() })
    try {
      assert.strictEqual(dashboard.path, "/dashboard/")
      const page = await fetch(`http://${base}/dashboard/`)
      assert.strictEqual(page.status, 200)
      assert.include(await page.text(), "<title>mounted</title>")
      const csp = page.headers.get("content-security-policy") ?? ""
      assert.include(csp, "default-src 'none'")
      assert.include(csp, "script-src 'self'")
      assert.include(csp, `connect-src 'self' ws://${base}/arcp`)
      assert.strictEqual(page.headers.get("x-content-type-options"), "nosniff")

      const config: unknown = await (await fetch(`http://${base}/dashboard/config.json`)).json()
      assert.deepStrictEqual(config, { ws_url: `ws://${base}/arcp` })
      // the config names the host the page was loaded from, and never a forged one
      const named = await bodyOf(`http://${base}/dashboard/config.json`, { host: "localhost:1234" })
      assert.deepStrictEqual(JSON.parse(named), { ws_url: "ws://localhost:1234/arcp" })
      const forged = await bodyOf(`http://${base}/dashboard/config.json`, { host: "evil.test/x'; script-src *" })
      assert.deepStrictEqual(JSON.parse(forged), { ws_url: `ws://${base}/arcp` })
      const js = await fetch(`http://${base}/dashboard/app.js`)
      assert.strictEqual(js.status, 200)
      assert.strictEqual(await js.text(), "console.log('app')")

      // without the slash the page's relative URLs would miss the path: redirected
      const bare = await fetch(`http://${base}/dashboard?x=1`, { redirect: "manual" })
      assert.strictEqual(bare.status, 308)
      assert.strictEqual(bare.headers.get("location"), "/dashboard/?x=1")
      assert.strictEqual((await fetch(`http://${base}/dashboard/nothing`)).status, 404)

      // the application's routes, and the runtime on its own path, carry on
      assert.strictEqual(await (await fetch(`http://${base}/health`)).text(), "ok")
      const other = await fetch(`http://${base}/dashboardish`)
      assert.strictEqual(other.status, 404)
      assert.strictEqual(await other.text(), "the application has no /dashboardish")
      const session = await connect(`ws://${base}/arcp`, { credentials: { scheme: "bearer", token: "t" } })
      assert.match(session.id, /^sess_/)
      await session.close()
    } finally {
      await dashboard.close()
      await arcp.close()
    }
    // unmounted: the application answers every path again, once
    const after = await fetch(`http://${base}/dashboard/`)
    assert.strictEqual(await after.text(), "the application has no /dashboard/")
    app.close()
  })

  it("as a middleware: requests outside its path go to next", async () => {
    const middleware = await dashboardHandler({ path: "/ops/dash/", arcpPath: "/arcp", assets: assets() })
    const app = createServer((request, response) => middleware(request, response, () => response.end("next")))
    const base = await listen(app)
    try {
      assert.include(await (await fetch(`http://${base}/ops/dash/`)).text(), "<title>mounted</title>")
      assert.deepStrictEqual(await (await fetch(`http://${base}/ops/dash/config.json`)).json(), {
        ws_url: `ws://${base}/arcp`
      })
      assert.strictEqual(await (await fetch(`http://${base}/elsewhere`)).text(), "next")
    } finally {
      app.close()
    }
  })

  it.runIf(hasOpenssl)("over TLS the config names wss:// on the same server", async () => {
    const pki = makePki()
    const app = createHttpsServer(
      { cert: pki.server.cert, key: pki.server.key },
      (_request, response) => response.end("app")
    )
    await new Promise<void>((resolve) => app.listen(0, "127.0.0.1", resolve))
    const address = app.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    const dashboard = await attachDashboard(app, { path: "/dashboard", arcpPath: "/arcp", assets: assets() })
    try {
      const body = await new Promise<string>((resolve, reject) => {
        httpsGet(`https://127.0.0.1:${port}/dashboard/config.json`, { ca: pki.ca.cert }, (res: IncomingMessage) => {
          const parts: Array<Buffer> = []
          res.on("data", (b: Buffer) => parts.push(b))
          res.on("end", () => resolve(Buffer.concat(parts).toString()))
        }).on("error", reject)
      })
      assert.deepStrictEqual(JSON.parse(body), { ws_url: `wss://127.0.0.1:${port}/arcp` })
    } finally {
      await dashboard.close()
      app.close()
    }
  })

  it("the page's own URLs are relative, so it works under any path", () => {
    const html = readFileSync(join(import.meta.dirname, "../../src/dashboard/web/index.html"), "utf8")
    assert.notMatch(html, /(src|href)="\//)
    const main = readFileSync(join(import.meta.dirname, "../../src/dashboard/web/main.tsx"), "utf8")
    assert.include(main, "fetch(\"config.json\"")
  })

  it("a page that is not built is a clear error", async () => {
    const app = createServer()
    try {
      await attachDashboard(app, { path: "/d", arcpPath: "/arcp", assets: join(tmpdir(), "arcp-no-such-web") })
      assert.fail("mounted without a page")
    } catch (error) {
      assert.match(String(error), /not built.*npm run build/)
    }
  })
})
