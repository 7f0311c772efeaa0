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

  it(
    "R10.1-1 R10.6-1 scheduled-retries retries a failing tool under one job, then schedules it and sees its firing",
    async () => {
      const { code, stdout } = await run("scheduled-retries.ts")
      assert.strictEqual(code, 0)
      assert.include(stdout, "scheduled_jobs true")
      assert.include(stdout, "retry attempt 1 of 4 failed with UNAVAILABLE")
      assert.include(stdout, "retry attempt 2 of 4 failed with UNAVAILABLE")
      assert.include(stdout, "result {\"key\":\"ada\",\"value\":\"ADA\",\"attempt\":3}")
      assert.include(stdout, "fired {\"result\":{\"key\":\"grace\",\"value\":\"GRACE\",\"attempt\":1}}")
    },
    30_000
  )

  it("promise-quickstart runs a Promise tool through arcp/promise", async () => {
    const { code, stdout } = await run("promise-quickstart.mjs")
    assert.strictEqual(code, 0)
    assert.include(stdout, "event tool.result")
    assert.include(stdout, "result 5")
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
