/** A runtime embedded over its own stdout with Effect's default logger: stdout carries frames only. */
import { assert, describe, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import { join } from "node:path"
import { connect } from "../../../src/client/promise/Promise.js"
import { root } from "../../support/Child.js"

describe("stdio transport and logging", () => {
  it("R22-1 logs and a tool's Console.log go to stderr; every stdout line is a frame", async () => {
    const child = spawn("node", ["--import", "tsx", join(root, "test", "fixtures", "stdio-embed.ts")], {
      cwd: root,
      stdio: ["pipe", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve))
    try {
      const session = await connect({ input: child.stdout, output: child.stdin }, {
        credentials: { scheme: "bearer", token: "secret" }
      })
      const job = await session.invoke("chatty", {})
      assert.strictEqual(await job.result, "done")
      await session.close()
      assert.strictEqual(await exited, 0)
      const lines = stdout.split("\n").filter((l) => l !== "")
      assert.isAbove(lines.length, 3)
      for (const line of lines) assert.doesNotThrow(() => JSON.parse(line), line)
      assert.include(stderr, "a log line from the tool")
      assert.include(stderr, "a console line from the tool")
      assert.include(stderr, "embedded runtime starting")
    } finally {
      child.kill()
    }
  }, 60_000)
})
