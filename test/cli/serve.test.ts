/** `arcp serve` and `arcp send` as real processes: the README's promise. */
import { assert, describe, it } from "@effect/vitest"
import { type ChildProcess, execFile, spawn } from "node:child_process"
import { join } from "node:path"

const root = join(import.meta.dirname, "..", "..")
const bin = join(root, "bin", "arcp.js")

const send = (args: ReadonlyArray<string>) =>
  new Promise<{ code: number; stdout: string }>((resolve) => {
    execFile("node", [bin, "send", ...args], { cwd: root }, (error, stdout) => {
      resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout })
    })
  })

/** Starts `arcp serve` on a free port and resolves with its address once it prints it. */
const serve = (args: ReadonlyArray<string>) =>
  new Promise<{ child: ChildProcess; address: string }>((resolve, reject) => {
    const child = spawn("node", [bin, "serve", "--port", "0", "--db", ":memory:", ...args], { cwd: root, stdio: ["ignore", "pipe", "pipe"] })
    let out = ""
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString()
      const match = /serving on (ws:\/\/[^\s]+)/.exec(out)
      if (match?.[1] !== undefined) resolve({ child, address: match[1] })
    })
    child.once("exit", (code) => reject(new Error(`serve exited early with ${code}: ${out}`)))
  })

describe("arcp serve + arcp send", () => {
  it("R4.1-2 a ping and a tool through the CLI; a wrong token fails; SIGTERM stops the server cleanly", async () => {
    const { address, child } = await serve(["--bearer", "tok=alice"])
    try {
      const ping = await send(["--url", address, "--token", "tok", "--type", "ping"])
      assert.strictEqual(ping.code, 0)
      const lines = ping.stdout.trim().split("\n").map((l) => JSON.parse(l))
      assert.deepStrictEqual(lines.map((m) => m.type), ["pong"])
      const tool = await send(["--url", address, "--token", "tok", "--tool", "echo", "--args", '{"hello":"world"}'])
      assert.strictEqual(tool.code, 0)
      const events = tool.stdout.trim().split("\n").map((l) => JSON.parse(l))
      assert.strictEqual(events[0].type, "job.accepted")
      assert.deepStrictEqual(events.at(-1), { ...events.at(-1), type: "tool.result", payload: { value: { hello: "world" } } })
      const failing = await send(["--url", address, "--token", "tok", "--tool", "fail", "--args", '{"code":"NOT_FOUND"}'])
      assert.strictEqual(failing.code, 1)
      const wrong = await send(["--url", address, "--token", "nope", "--type", "ping"])
      assert.strictEqual(wrong.code, 1)
    } finally {
      const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
      child.kill("SIGTERM")
      assert.strictEqual(await exited, 0)
    }
  }, 60_000)
})
