/** `arcp validate` run as a real child process. */
import { assert, describe, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import { join } from "node:path"

const root = join(import.meta.dirname, "..", "..")
const transcripts = join(root, "test", "fixtures", "transcripts")

const arcp = (args: ReadonlyArray<string>, stdin?: string) =>
  new Promise<{ code: number; stdout: string }>((resolve) => {
    const child = execFile("node", [join(root, "bin", "arcp.js"), ...args], { cwd: root }, (error, stdout) => {
      resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout })
    })
    if (stdin !== undefined) child.stdin?.end(stdin)
  })

describe("arcp validate", () => {
  it("R4.4-1 a good transcript: one `ok <type>` per envelope, exit 0", async () => {
    const { code, stdout } = await arcp(["validate", join(transcripts, "good.jsonl")])
    assert.strictEqual(code, 0)
    assert.deepStrictEqual(stdout.trim().split("\n"), ["ok ping", "ok tool.invoke", "ok arcpx.acme.deploy.v1"])
  }, 30_000)

  it("a bad transcript: `error <line> <CODE> <path>: <reason>` with the right lines and codes, exit 1", async () => {
    const { code, stdout } = await arcp(["validate", join(transcripts, "bad.jsonl")])
    assert.strictEqual(code, 1)
    const lines = stdout.trim().split("\n")
    assert.strictEqual(lines[0], "ok ping")
    assert.match(lines[1] ?? "", /^error 2 INVALID_ARGUMENT payload\.percent: /)
    assert.match(lines[2] ?? "", /^error 3 INVALID_ARGUMENT \(root\): malformed JSON/)
    assert.match(lines[3] ?? "", /^error 4 UNIMPLEMENTED type: /)
    assert.match(lines[4] ?? "", /^error 5 INVALID_ARGUMENT timestamp: /)
  }, 30_000)

  it("reads stdin with `-`, and one JSON document", async () => {
    const piped = await arcp(["validate", "-"], '{"arcp":"1.0","id":"m","timestamp":"2026-05-09T13:00:00Z","type":"ping","payload":{}}\n')
    assert.strictEqual(piped.code, 0)
    assert.strictEqual(piped.stdout.trim(), "ok ping")
    const document = JSON.stringify({ arcp: "1.0", id: "m", timestamp: "2026-05-09T13:00:00Z", type: "cancel", payload: { target: "job" } }, null, 2)
    const single = await arcp(["validate", "-"], document)
    assert.strictEqual(single.code, 1)
    assert.match(single.stdout.trim(), /^error 1 INVALID_ARGUMENT payload\.target_id: /)
  }, 30_000)
})
