/**
 * Bundles the `arcp` command into one file, dist/arcp.cjs, which bin/arcp.js runs, and writes its V8 code cache
 * (dist/arcp.cjs.cache) by starting a server from it once.
 *
 * Why a bundle: loading the compiled modules one by one (effect's barrel alone is some 300 files) took
 * about a second before the command could do anything; one tree-shaken file starts in a fraction of it.
 * Why CommonJS: Node 20 can cache a script's compiled code (`vm.Script`'s `cachedData`), not an ES module's; the
 * cache takes `arcp serve`'s start from ~1.1 s to ~0.75 s on the development machine (docs/benchmarks.md).
 * Native and optional modules stay outside and load from node_modules as usual. The library entry points
 * (`arcp`, `arcp/promise`) are not bundled: they are tsc's output, importing the application's own `effect`.
 * Run by `npm run build`.
 */
import { build } from "esbuild"
import { spawn } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const root = join(import.meta.dirname, "..")
const bundle = join(root, "dist", "arcp.cjs")

await build({
  entryPoints: [join(root, "src", "cli", "main.ts")],
  outfile: bundle,
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node20",
  minify: true,
  legalComments: "eof",
  logLevel: "warning",
  // better-sqlite3 is native; the others are optional accelerators their users require inside a try
  external: ["better-sqlite3", "bufferutil", "utf-8-validate", "msgpackr-extract"],
  // no import() left in the bundle: Node 20 runs a cached script's dynamic imports with no loader
  // (ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING), so they become require()s (the OTLP exporter's node:http)
  supported: { "dynamic-import": false },
  // the sources are ES modules: their import.meta.url is the bundle's own
  define: { "import.meta.url": "__arcpModuleUrl" },
  banner: { js: "const __arcpModuleUrl = require(\"node:url\").pathToFileURL(__filename).href;" }
})
if (/\bimport\(/.test(readFileSync(bundle, "utf8"))) {
  throw new Error("dist/arcp.cjs has an import(): a run from the code cache could not load it (bin/codeCache.js)")
}
// the ES module bundle of earlier builds
rmSync(join(root, "dist", "arcp.mjs"), { force: true })
rmSync(`${bundle}.cache`, { force: true })

/** Starts `arcp serve` once, as `npm start` does, and stops it once it listens: its exit writes the cache. */
const writeCodeCache = () =>
  new Promise<void>((resolve) => {
    const dir = mkdtempSync(join(tmpdir(), "arcp-code-cache-"))
    const child = spawn(
      process.execPath,
      [join(root, "bin", "arcp.js"), "serve", "--port", "0", "--db", join(dir, "warm.db")],
      { cwd: root, env: { ...process.env, ARCP_WRITE_CODE_CACHE: "1" }, stdio: ["ignore", "pipe", "pipe"] }
    )
    let out = ""
    // once: a second SIGTERM while the server shuts down could end it before its exit writes the cache
    let stopping = false
    const stop = () => {
      if (stopping) return
      stopping = true
      child.kill("SIGTERM")
    }
    const timer = setTimeout(stop, 30_000)
    child.stdout.on("data", (data: Buffer) => {
      out += data.toString()
      if (out.includes("serving on")) stop()
    })
    child.stderr.resume()
    child.once("exit", () => {
      clearTimeout(timer)
      rmSync(dir, { recursive: true, force: true })
      // optional: without it the first run compiles, and writes one
      if (!out.includes("serving on")) console.warn("bundle-cli: no code cache written (the server did not start)")
      resolve()
    })
  })

await writeCodeCache()
