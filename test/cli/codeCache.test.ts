/**
 * The `arcp` command's code cache (bin/codeCache.js, issue 12: start-up): the build leaves one beside the bundle,
 * a run that finds it valid leaves it alone, and a run that finds none, or one V8 rejects, writes a new one as
 * it exits, with the command's own output unchanged. Run on a copy of the bundle in a folder of its own, so the
 * other tests' `arcp` runs never see a half-made cache.
 */
import { assert, describe, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import { copyFileSync, existsSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { withTempDir } from "../support/TempDir.js"

const root = join(import.meta.dirname, "..", "..")

/** Runs `body` in a fresh folder with a copy of dist/arcp.cjs (its native modules via node_modules) and a runner. */
const withCopyOfBundle = (body: (dir: string) => Promise<void>) =>
  withTempDir("arcp-code-cache-test-", (dir) => {
    copyFileSync(join(root, "dist", "arcp.cjs"), join(dir, "arcp.cjs"))
    symlinkSync(join(root, "node_modules"), join(dir, "node_modules"), "dir")
    writeFileSync(
      join(dir, "run.mjs"),
      `import { runWithCodeCache } from ${JSON.stringify(pathToFileURL(join(root, "bin", "codeCache.js")).href)}\n` +
        `runWithCodeCache(${JSON.stringify(join(dir, "arcp.cjs"))})\n`
    )
    return body(dir)
  })

const run = (dir: string, args: ReadonlyArray<string>) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile("node", [join(dir, "run.mjs"), ...args], { cwd: dir }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout, stderr })
    })
  })

describe("the arcp command's code cache", () => {
  it("the build leaves a cache beside the bundle", () => {
    assert.isTrue(existsSync(join(root, "dist", "arcp.cjs.cache")))
  })

  it(
    "a run with no cache writes one as it exits; the next run finds it valid and leaves it as it is",
    () =>
      withCopyOfBundle(async (dir) => {
        const cache = join(dir, "arcp.cjs.cache")
        const first = await run(dir, ["--version"])
        assert.strictEqual(first.code, 0, first.stderr)
        assert.match(first.stdout, /^\d+\.\d+\.\d+/)
        assert.isTrue(existsSync(cache))
        const written = statSync(cache).mtimeMs
        const second = await run(dir, ["--version"])
        assert.strictEqual(second.code, 0, second.stderr)
        assert.strictEqual(second.stdout, first.stdout)
        assert.strictEqual(statSync(cache).mtimeMs, written)
      }),
    60_000
  )

  it(
    "a cache V8 rejects (made for other code) is replaced, and the command runs as without one",
    () =>
      withCopyOfBundle(async (dir) => {
        const cache = join(dir, "arcp.cjs.cache")
        writeFileSync(cache, Buffer.from("not a code cache".repeat(64)))
        const { code, stderr, stdout } = await run(dir, ["--version"])
        assert.strictEqual(code, 0, stderr)
        assert.match(stdout, /^\d+\.\d+\.\d+/)
        assert.strictEqual(stderr, "")
        assert.notInclude(readFileSync(cache).toString("latin1"), "not a code cache")
      }),
    60_000
  )
})
