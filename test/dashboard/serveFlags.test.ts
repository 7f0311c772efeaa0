/** `arcp serve`'s dashboard flags: the URL printed beside the development token, --no-dashboard, a taken port. */
import { assert, describe, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { root, serve, stop } from "./support.js"

const bin = join(root, "bin", "arcp.js")

/** Runs `arcp serve` until it exits (or prints `until`, then stops it); resolves with its output and exit code. */
const run = (args: ReadonlyArray<string>, until?: RegExp) =>
  new Promise<{ code: number | null; out: string }>((resolve) => {
    const child = spawn("node", [bin, "serve", "--db", ":memory:", ...args], { cwd: root })
    let out = ""
    const onData = (b: Buffer) => {
      out += b.toString()
      if (until !== undefined && until.test(out)) child.kill("SIGTERM")
    }
    child.stdout.on("data", onData)
    child.stderr.on("data", onData)
    child.once("exit", (code) => resolve({ code, out }))
  })

const takenPort = () =>
  new Promise<{ port: number; close: () => void }>((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const address = server.address()
      resolve({ port: typeof address === "object" && address !== null ? address.port : 0, close: () => server.close() })
    })
  })

describe("arcp serve --dashboard-port", () => {
  it("prints the dashboard's URL with the development token in its fragment", async () => {
    const served = await serve(["--port", "0", "--db", ":memory:"])
    try {
      const token = /generated a development bearer token[^\n]*\n\s*(\S+)/.exec(served.output())?.[1]
      assert.isDefined(token)
      assert.match(served.output(), new RegExp(`dashboard: http://127\\.0\\.0\\.1:\\d+/#token=${token ?? ""}`))
    } finally {
      await stop(served)
    }
  }, 30_000)

  it("--no-dashboard serves none", async () => {
    const { out } = await run(["--port", "0", "--no-dashboard", "--bearer", "t=alice"], /try it:.*\n/)
    assert.notInclude(out, "dashboard:")
  }, 30_000)

  it("a dashboard port asked for by name and taken is one sentence and a non-zero exit", async () => {
    const taken = await takenPort()
    try {
      const { code, out } = await run(["--port", "0", "--dashboard-port", String(taken.port), "--bearer", "t=alice"])
      assert.notStrictEqual(code, 0)
      assert.include(out, `--dashboard-port ${taken.port} on 127.0.0.1 is already in use`)
      assert.notInclude(out, "    at ")
    } finally {
      taken.close()
    }
  }, 30_000)

  it("without the WebSocket transport there is no dashboard, and it says so when one was asked for", async () => {
    const socket = join(tmpdir(), `arcp-dash-${process.pid}.sock`)
    const { out } = await run(
      ["--transport", "unix", "--socket", socket, "--dashboard-port", "0", "--bearer", "t=alice"],
      /no dashboard.*\n/
    )
    assert.include(out, "no dashboard: it needs the WebSocket transport")
  }, 30_000)
})
