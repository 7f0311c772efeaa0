/** The dashboard's HTTP server: the page's files and its config, nothing else, with a strict policy. */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { writeFileSync } from "node:fs"
import { request } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { gunzipSync } from "node:zlib"
import * as DashboardServer from "../../src/dashboard/DashboardServer.js"
import { tempDir } from "../support/TempDir.js"

const assets = Effect.tap(tempDir("arcp-web-"), (dir) => {
  writeFileSync(join(dir, "index.html"), "<!doctype html><title>t</title>")
  writeFileSync(join(dir, "app.js"), "console.log('app')")
  writeFileSync(join(dir, "app.css"), "body{}")
})

interface Reply {
  readonly status: number
  readonly headers: Record<string, string | Array<string> | undefined>
  readonly body: Buffer
}

const get = (url: string, headers: Record<string, string> = {}, method = "GET") =>
  Effect.async<Reply>((resume) => {
    const req = request(url, { method, headers }, (res) => {
      const parts: Array<Buffer> = []
      res.on("data", (b: Buffer) => parts.push(b))
      res.on("end", () =>
        resume(Effect.succeed({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) })))
    })
    req.end()
  })

describe("dashboard server", () => {
  it.scopedLive("serves the page's files (gzip when asked) and where the runtime is; 404 and 405 for the rest", () =>
    Effect.gen(function*() {
      const dir = yield* assets
      const { port, url } = yield* DashboardServer.start({ host: "127.0.0.1", port: 0, wsPort: 4321, assets: dir })
      assert.strictEqual(url, `http://127.0.0.1:${port}/`)
      const index = yield* get(url)
      assert.strictEqual(index.status, 200)
      assert.match(String(index.headers["content-type"]), /^text\/html/)
      assert.include(index.body.toString(), "<title>t</title>")
      const csp = String(index.headers["content-security-policy"])
      assert.include(csp, "default-src 'none'")
      assert.include(csp, "script-src 'self'")
      assert.include(csp, "frame-ancestors 'none'")
      assert.strictEqual(index.headers["x-content-type-options"], "nosniff")

      const js = yield* get(`${url}app.js`, { "accept-encoding": "gzip" })
      assert.strictEqual(js.headers["content-encoding"], "gzip")
      assert.strictEqual(gunzipSync(js.body).toString(), "console.log('app')")

      const config = yield* get(`${url}config.json`)
      assert.deepStrictEqual(JSON.parse(config.body.toString()), { ws_url: "ws://127.0.0.1:4321" })
      // the page reaches the runtime on the host name it was loaded from
      const named = yield* get(`${url}config.json`, { host: `localhost:${port}` })
      assert.deepStrictEqual(JSON.parse(named.body.toString()), { ws_url: "ws://localhost:4321" })
      // a forged Host cannot inject into the config or the policy
      const forged = yield* get(`${url}config.json`, { host: "evil.example'; script-src *" })
      assert.deepStrictEqual(JSON.parse(forged.body.toString()), { ws_url: "ws://127.0.0.1:4321" })

      for (const path of ["../package.json", "%2e%2e/package.json", "app.js.map", "nope"]) {
        assert.strictEqual((yield* get(`${url}${path}`)).status, 404, path)
      }
      assert.strictEqual((yield* get(url, {}, "POST")).status, 405)
    }))

  it.scopedLive("says to build the page when its files are missing", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        DashboardServer.start({ host: "127.0.0.1", port: 0, wsPort: 1, assets: join(tmpdir(), "arcp-no-such-dir") })
      )
      assert.include(error.message, "npm run build")
    }))

  it.scopedLive("a taken port is an error naming it", () =>
    Effect.gen(function*() {
      const dir = yield* assets
      const first = yield* DashboardServer.start({ host: "127.0.0.1", port: 0, wsPort: 1, assets: dir })
      const error = yield* Effect.flip(
        DashboardServer.start({ host: "127.0.0.1", port: first.port, wsPort: 1, assets: dir })
      )
      assert.strictEqual(error.code, "EADDRINUSE")
    }))
})
