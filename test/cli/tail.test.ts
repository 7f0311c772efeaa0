/** `arcp tail` as a real process against `arcp serve` (§13): backfill, the marker line, live lines; refusals in one sentence. */
import { assert, describe, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import { bin, root, runArcp, serveWs } from "../support/Child.js"

const cli = runArcp

/** Starts `arcp tail`, collecting its stdout until `done` matches it; then stops it. */
const tailUntil = (args: ReadonlyArray<string>, done: (out: string) => boolean) =>
  new Promise<string>((resolve, reject) => {
    const child = spawn("node", [bin, "tail", ...args], { cwd: root, stdio: ["ignore", "pipe", "pipe"] })
    let out = ""
    let err = ""
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString()
      if (done(out)) {
        child.kill("SIGINT")
        resolve(out)
      }
    })
    child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()))
    child.once(
      "exit",
      (code) => reject(new Error(`tail exited with ${code} before the expected output: ${out} ${err}`))
    )
  })

describe("arcp tail", () => {
  it(
    "R13.3-1 an observer tails another principal's session: backfilled lines, the marker, then live ones; a stranger is refused",
    async () => {
      const { address, child } = await serveWs([
        "--db",
        ":memory:",
        "--bearer",
        "tok=alice",
        "--bearer",
        "ops=ops",
        "--observer",
        "ops"
      ])
      try {
        const first = await cli([
          "send",
          "--url",
          address,
          "--token",
          "tok",
          "--tool",
          "ticker",
          "--args",
          "{\"count\":3}"
        ])
        assert.strictEqual(first.code, 0, first.stdout)
        const accepted = JSON.parse(first.stdout.trim().split("\n")[0] ?? "{}")
        const session = String(accepted.session_id)
        const out = await tailUntil(
          [
            "--url",
            address,
            "--token",
            "ops",
            "--session",
            session,
            "--types",
            "job.progress,tool.result",
            "--since",
            accepted.id
          ],
          (text) => text.includes("end of backfill")
        )
        const lines = out.trim().split("\n")
        assert.match(lines[0] ?? "", /^\d\d:\d\d:\d\d\.\d+ job\.progress session=sess_\S+ job=job_\S+ 1\/3 33%$/)
        assert.strictEqual(lines.length, 5, out)
        assert.match(lines[3] ?? "", / tool\.result .* \{"count":3\}$/)
        assert.strictEqual(lines[4], "--- end of backfill; live from here ---")

        const json = await tailUntil(
          ["--url", address, "--token", "ops", "--session", session, "--since", accepted.id, "--json"],
          (text) => text.includes("subscription.backfill_complete")
        )
        const envelopes = json.trim().split("\n").map((l) => JSON.parse(l))
        assert.isTrue(envelopes.every((e) => typeof e.id === "string" && typeof e.type === "string"))
        assert.strictEqual(envelopes.at(-1).payload.name, "subscription.backfill_complete")

        const refused = await cli(["tail", "--url", address, "--token", "tok", "--job", "job_not_yours"])
        assert.strictEqual(refused.code, 1)
        assert.strictEqual(refused.stderr.trim().split("\n").length, 1, refused.stderr)
        assert.include(refused.stderr, "may not observe job job_not_yours")
      } finally {
        child.kill("SIGTERM")
      }
    },
    90_000
  )
})
