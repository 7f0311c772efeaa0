/**
 * The package as npm ships it: what `npm pack` puts in, the manifest's promises (peer dependencies,
 * licence), and the packed tarball installed into a fresh project and used from plain Node, the
 * `arcp` command included. Offline: the tarball is unpacked where npm would put it, and its
 * dependencies are this repository's own installed copies.
 */
import { assert, describe, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { withTempDir } from "./support/TempDir.js"

const root = join(import.meta.dirname, "..")

const exec = (file: string, args: ReadonlyArray<string>, cwd: string) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      file,
      args,
      { cwd, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) =>
        resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout, stderr })
    )
  })

interface Manifest {
  readonly license: string
  readonly dependencies: Record<string, string>
  readonly peerDependencies: Record<string, string>
  readonly devDependencies: Record<string, string>
  readonly repository?: unknown
  readonly keywords?: ReadonlyArray<string>
}

const manifest: Manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8"))

describe("the npm package", () => {
  it(
    "npm pack ships the built library, the bundled command, the docs and the licence, and nothing of the workshop",
    async () => {
      // --ignore-scripts: dist/ is already built (the suite's global setup); pack lists, it does not rebuild
      const { code, stderr, stdout } = await exec("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], root)
      assert.strictEqual(code, 0, stderr)
      const [packed]: Array<{ files: Array<{ path: string }> }> = JSON.parse(stdout)
      const files = (packed?.files ?? []).map((f) => f.path)
      for (
        const required of [
          "package.json",
          "LICENSE",
          "README.md",
          "bin/arcp.js",
          "dist/arcp.cjs",
          "bin/codeCache.js",
          "dist/Version.js",
          "dist/index.js",
          "dist/index.d.ts",
          "dist/client/promise/Promise.js",
          "dist/client/promise/Promise.d.ts",
          "dist/web/index.html",
          "dist/web/app.js",
          "dist/web/app.css"
        ]
      ) assert.include(files, required)
      // the code cache is made for one Node: a user's first run makes their own (bin/codeCache.js)
      const stray = files.filter((f) =>
        /^(test|bench|scripts|examples|node_modules|\.ci)\//.test(f) || f.endsWith(".db") || f.endsWith(".cache")
      )
      assert.deepStrictEqual(stray, [])
    },
    60_000
  )

  it("effect and @effect/* are peer dependencies (one copy with the application's), dev tools are not runtime dependencies", () => {
    const runtime = Object.keys(manifest.dependencies)
    assert.deepStrictEqual(runtime.filter((d) => d === "effect" || d.startsWith("@effect/")), [])
    assert.deepStrictEqual(
      runtime.filter((d) => ["tsx", "fast-check", "esbuild", "vitest", "typescript"].includes(d)),
      []
    )
    assert.includeMembers(Object.keys(manifest.peerDependencies), [
      "effect",
      "@effect/platform",
      "@effect/platform-node"
    ])
    // and the repository itself installs them, to build and test
    for (const peer of Object.keys(manifest.peerDependencies)) assert.property(manifest.devDependencies, peer)
    assert.strictEqual(manifest.license, "MIT")
    assert.match(readFileSync(join(root, "LICENSE"), "utf8"), /^MIT License\n/)
    assert.isDefined(manifest.repository)
    assert.isAbove(manifest.keywords?.length ?? 0, 3)
  })

  it(
    "the packed tarball, installed into a fresh project, works from plain Node: arcp, arcp/promise and the arcp command",
    () =>
      withTempDir("arcp-consumer-", async (project) => {
        const packed = await exec("npm", ["pack", "--ignore-scripts", "--pack-destination", project, "--json"], root)
        assert.strictEqual(packed.code, 0, packed.stderr)
        const [tarball]: Array<{ filename: string }> = JSON.parse(packed.stdout)
        const filename = tarball?.filename ?? ""
        // where npm would install it: node_modules/arcp, unpacked from the tarball
        const installed = join(project, "node_modules", "arcp")
        mkdirSync(installed, { recursive: true })
        const untar = await exec(
          "tar",
          ["-xzf", join(project, filename), "-C", installed, "--strip-components=1"],
          project
        )
        assert.strictEqual(untar.code, 0, untar.stderr)
        // its dependencies and peers: our installed copies (offline), beside it as npm would place them
        const ours = join(root, "node_modules")
        for (const name of readdirSync(ours)) {
          if (name.startsWith(".") || name === "arcp") continue
          if (name.startsWith("@")) {
            mkdirSync(join(project, "node_modules", name), { recursive: true })
            for (const scoped of readdirSync(join(ours, name))) {
              symlinkSync(join(ours, name, scoped), join(project, "node_modules", name, scoped), "dir")
            }
          } else symlinkSync(join(ours, name), join(project, "node_modules", name), "dir")
        }
        writeFileSync(
          join(project, "package.json"),
          JSON.stringify({ name: "consumer", private: true, type: "module" })
        )
        writeFileSync(
          join(project, "main.js"),
          `import { AnyArguments, connect, createServer, tool, TransportError } from "arcp/promise"
import { Runtime, Tools } from "arcp"
const add = tool({ name: "add", parameters: AnyArguments, handler: async ({ a, b }) => a + b })
const server = await createServer({ port: 0, logLevel: "none", auth: { bearer: new Map([["t", "me"]]) }, tools: [add] })
const session = await connect(server.address, { credentials: { scheme: "bearer", token: "t" } })
const job = await session.invoke("add", { a: 2, b: 40 })
console.log("result", await job.result, typeof Runtime.layer, typeof Tools.make, typeof TransportError)
await session[Symbol.asyncDispose]()
await server.close()
`
        )
        const used = await exec("node", ["main.js"], project)
        assert.strictEqual(used.code, 0, used.stderr)
        assert.strictEqual(used.stdout.trim(), "result 42 function function function")
        const version = await exec("node", [join(installed, "bin", "arcp.js"), "version"], project)
        assert.strictEqual(version.code, 0, version.stderr)
        assert.match(version.stdout, /^arcp \d+\.\d+\.\d+ \(ARCP protocol 1\.0\)\n$/)
        const help = await exec("node", [join(installed, "bin", "arcp.js"), "send", "--help"], project)
        assert.strictEqual(help.code, 0, help.stderr)
        assert.include(help.stdout, "--url")
      }),
    120_000
  )
})
