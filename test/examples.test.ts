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

  it("artifacts uploads, runs a tool that stores its output, and streams both back", async () => {
    const { code, stdout } = await run("artifacts.mjs")
    assert.strictEqual(code, 0)
    assert.include(stdout, "binary encodings base64,sidecar")
    assert.include(stdout, "put 3145728 bytes")
    assert.include(stdout, "fetched sha256 matches true")
    assert.include(stdout, "tool artifact text/plain 8893 bytes, last line \"line 1000\"")
  }, 60_000)
  it("permission-refund asks permission before a pretend refund; the Promise client approves", async () => {
    const { code, stdout } = await run("permission-refund.mjs")
    assert.strictEqual(code, 0)
    assert.include(stdout, "asked: payment.refund.create on order:ord_4812")
    assert.include(stdout, "granted payment.refund.create on order:ord_4812")
    assert.include(stdout, "event lease.granted")
    assert.include(stdout, "result {\"order\":\"ord_4812\",\"refunded\":25}")
  }, 30_000)
})
