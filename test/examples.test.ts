/** Every program under examples/ runs and prints what its comments promise. */
import { assert, describe, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import { join } from "node:path"

const root = join(import.meta.dirname, "..")
const run = (file: string) =>
  new Promise<{ code: number; stdout: string }>((resolve) => {
    execFile("node", ["--import", "tsx", join(root, "examples", file)], { cwd: root }, (error, stdout) =>
      resolve({ code: error === null ? 0 : 1, stdout }))
  })

describe("examples", () => {
  it("effect-quickstart invokes a typed tool and prints its events and result", async () => {
    const { code, stdout } = await run("effect-quickstart.ts")
    assert.strictEqual(code, 0)
    assert.include(stdout, "event job.progress")
    assert.include(stdout, "result {\"greeting\":\"hello ada\"}")
  }, 30_000)

  it("promise-quickstart runs a Promise tool through arcp/promise", async () => {
    const { code, stdout } = await run("promise-quickstart.mjs")
    assert.strictEqual(code, 0)
    assert.include(stdout, "event tool.result")
    assert.include(stdout, "result 5")
  }, 30_000)

  it("mcp-tools wraps a stdio MCP server: its tool is discovered as hello.say and runs as a job", async () => {
    const { code, stdout } = await run("mcp-tools.ts")
    assert.strictEqual(code, 0)
    assert.include(stdout, "tool hello.say: Greets someone")
    assert.include(stdout, "event tool.result")
    assert.include(stdout, "result \"hello ada\"")
  }, 30_000)

  it("mcp-host serves a runtime's tools to an MCP client, with progress", async () => {
    const { code, stdout } = await run("mcp-host.ts")
    assert.strictEqual(code, 0)
    assert.include(stdout, "mcp tools count")
    assert.include(stdout, "mcp progress 1/3")
    assert.include(stdout, "mcp result {\"counted\":3}")
  }, 30_000)

  it("permission-refund asks permission before a pretend refund; the Promise client approves", async () => {
    const { code, stdout } = await run("permission-refund.mjs")
    assert.strictEqual(code, 0)
    assert.include(stdout, "asked: payment.refund.create on order:ord_4812")
    assert.include(stdout, "granted payment.refund.create on order:ord_4812")
    assert.include(stdout, "event lease.granted")
    assert.include(stdout, "result {\"order\":\"ord_4812\",\"refunded\":25}")
  }, 30_000)
})
