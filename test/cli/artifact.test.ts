/** `arcp artifact put` / `get` as real processes: streamed up and down, plain output when piped, one-line errors. */
import { assert, describe, it } from "@effect/vitest"
import { createHash } from "node:crypto"
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { runArcp, serveWs } from "../support/Child.js"
import { withTempDir } from "../support/TempDir.js"

const arcp = runArcp

describe("arcp artifact", () => {
  it("R16.2-1 put FILE prints the ref; get ID -o FILE writes the same bytes; errors are one sentence", async () => {
    await withTempDir("arcp-cli-artifact-", async (dir) => {
      const { address, child } = await serveWs(["--db", join(dir, "arcp.db"), "--bearer", "tok=alice"])
      try {
        const input = join(dir, "in.bin")
        const bytes = Buffer.alloc(3 * 1024 * 1024 + 3).map((_, i) => (i * 7) & 0xff)
        writeFileSync(input, bytes)
        const connect = ["--url", address, "--token", "tok"]
        const put = await arcp(["artifact", "put", input, "--media-type", "application/x-test", ...connect])
        assert.strictEqual(put.code, 0, put.stderr)
        const ref = JSON.parse(put.stdout.trim())
        assert.strictEqual(ref.size, bytes.length)
        assert.strictEqual(ref.sha256, createHash("sha256").update(bytes).digest("hex"))
        assert.strictEqual(ref.media_type, "application/x-test")
        // piped: no progress bar on stderr
        assert.notInclude(put.stderr, "uploading")

        const output = join(dir, "out.bin")
        const get = await arcp(["artifact", "get", ref.artifact_id, "-o", output, ...connect])
        assert.strictEqual(get.code, 0, get.stderr)
        assert.strictEqual(get.stdout.trim(), `wrote ${bytes.length} bytes to ${output}`)
        assert.isTrue(readFileSync(output).equals(bytes))

        const missing = await arcp(["artifact", "get", "art_missing", "-o", join(dir, "none.bin"), ...connect])
        assert.strictEqual(missing.code, 1)
        assert.strictEqual(missing.stderr.trim(), "error NOT_FOUND: no artifact art_missing")
        assert.isFalse(existsSync(join(dir, "none.bin.partial")), "no partial file is left behind")
        const unreadable = await arcp(["artifact", "put", join(dir, "nope.bin"), ...connect])
        assert.strictEqual(unreadable.code, 1)
        assert.include(unreadable.stderr, "cannot read")
        assert.notInclude(unreadable.stderr, "    at ")
      } finally {
        child.kill("SIGTERM")
      }
    })
  }, 300_000)
})
