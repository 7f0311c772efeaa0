/** `arcp validate` run as a real child process. */
import { assert, describe, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import { join } from "node:path"

const root = join(import.meta.dirname, "..", "..")
const transcripts = join(root, "test", "fixtures", "transcripts")

const arcp = (args: ReadonlyArray<string>, stdin?: string) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const child = execFile("node", [join(root, "bin", "arcp.js"), ...args], { cwd: root }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout, stderr })
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

  it("R4.4-1 a missing file is one error line, NOT_FOUND, exit 1, no stack trace", async () => {
    const missing = join(transcripts, "no-such-file.jsonl")
    const { code, stderr, stdout } = await arcp(["validate", missing])
    assert.strictEqual(code, 1)
    assert.strictEqual(stdout, `error 0 NOT_FOUND ${missing}: no such file\n`)
    assert.strictEqual(stderr, "")
  }, 30_000)

  it(
    "R4.4-1 R18.1-1 non-object payloads, a missing stream_id and a bad error code are one readable line each",
    async () => {
      const header = { arcp: "1.0", id: "m", timestamp: "2026-05-09T13:00:00Z" }
      const lines = [
        { ...header, type: "ping", payload: "s" },
        { ...header, type: "ping", payload: 5 },
        { ...header, type: "stream.chunk", payload: { sequence: 0, data: "hi" } },
        { ...header, type: "tool.error", payload: { code: "NOPE", message: "m" } },
        { ...header, type: "ping", timestamp: "2026-02-30T00:00:00Z", payload: {} }
      ].map((l) => JSON.stringify(l)).join("\n")
      const { code, stdout } = await arcp(["validate", "-"], lines)
      assert.strictEqual(code, 1)
      assert.deepStrictEqual(stdout.trim().split("\n"), [
        "error 1 INVALID_ARGUMENT payload: Expected a JSON object, actual \"s\"",
        "error 2 INVALID_ARGUMENT payload: Expected a JSON object, actual 5",
        "error 3 INVALID_ARGUMENT stream_id: is missing: a stream.chunk envelope carries stream_id (§6.1.1)",
        "error 4 INVALID_ARGUMENT payload.code: Expected a canonical error code (OK, CANCELLED, UNKNOWN, INVALID_ARGUMENT, ...) or a namespaced code (arcpx.<vendor>.<NAME>), actual \"NOPE\"",
        "error 5 INVALID_ARGUMENT timestamp: Expected an RFC 3339 timestamp, actual \"2026-02-30T00:00:00Z\""
      ])
    },
    30_000
  )

  it("reads stdin with `-`, and one JSON document", async () => {
    const piped = await arcp(
      ["validate", "-"],
      "{\"arcp\":\"1.0\",\"id\":\"m\",\"timestamp\":\"2026-05-09T13:00:00Z\",\"type\":\"ping\",\"payload\":{}}\n"
    )
    assert.strictEqual(piped.code, 0)
    assert.strictEqual(piped.stdout.trim(), "ok ping")
    const document = JSON.stringify(
      { arcp: "1.0", id: "m", timestamp: "2026-05-09T13:00:00Z", type: "cancel", payload: { target: "job" } },
      null,
      2
    )
    const single = await arcp(["validate", "-"], document)
    assert.strictEqual(single.code, 1)
    assert.match(single.stdout.trim(), /^error 1 INVALID_ARGUMENT payload\.target_id: /)
  }, 30_000)
})
