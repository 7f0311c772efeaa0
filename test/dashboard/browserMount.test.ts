/**
 * The dashboard mounted on an application's own node:http server beside the runtime (`attachDashboard` +
 * `attach`), in Chromium: the page loads under /dashboard/, reads its config there and signs in to /arcp on
 * the same server. Skipped, saying why, when no Chromium is installed.
 */
import { assert, describe, it } from "@effect/vitest"
import { createServer } from "node:http"
import { chromium } from "playwright-core"
import { attach, attachDashboard } from "../../src/client/promise/Promise.js"
import { chromiumPath, noBrowserReason } from "./support.js"

if (chromiumPath === undefined) console.warn(noBrowserReason)

describe.skipIf(chromiumPath === undefined)("mounted dashboard in Chromium", () => {
  it("signs in through the page under /dashboard/ to the runtime at /arcp of the same server", async () => {
    const app = createServer((_request, response) => response.end("app"))
    await new Promise<void>((resolve) => app.listen(0, "127.0.0.1", resolve))
    const address = app.address()
    const base = `127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}`
    const arcp = await attach(app, { path: "/arcp", logLevel: "none", auth: { bearer: new Map([["t", "alice"]]) } })
    const dashboard = await attachDashboard(app, { path: "/dashboard", arcpPath: "/arcp" })
    const browser = await chromium.launch({ executablePath: chromiumPath ?? "", args: ["--no-sandbox"] })
    try {
      const page = await browser.newPage()
      page.setDefaultTimeout(10_000)
      const refused: Array<string> = []
      page.on("console", (message) => {
        if (message.type() === "error") refused.push(message.text())
      })
      await page.goto(`http://${base}${dashboard.path}`)
      await page.getByTestId("signin").waitFor()
      await page.fill("input[name=token]", "t")
      await page.click("button[type=submit]")
      await page.locator("[data-status=open]").waitFor()
      assert.strictEqual(await arcp.sessionCount(), 1)
      assert.deepStrictEqual(refused, [])
    } finally {
      await browser.close()
      await dashboard.close()
      await arcp.close()
      app.close()
    }
  }, 60_000)
})
