/**
 * Bundles the `arcp` command into one file, dist/arcp.mjs, which bin/arcp.js runs.
 *
 * Why a bundle: loading the compiled modules one by one (effect's barrel alone is some 300 files) took
 * about a second before the command could do anything; one tree-shaken file starts in a fraction of it.
 * Native and optional modules stay outside and load from node_modules as usual. The library entry points
 * (`arcp`, `arcp/promise`) are not bundled: they are tsc's output, importing the application's own `effect`.
 * Run by `npm run build`.
 */
import { build } from "esbuild"
import { join } from "node:path"

const root = join(import.meta.dirname, "..")

await build({
  entryPoints: [join(root, "src", "cli", "main.ts")],
  outfile: join(root, "dist", "arcp.mjs"),
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  minify: true,
  legalComments: "eof",
  logLevel: "warning",
  // better-sqlite3 is native; the others are optional accelerators their users require inside a try
  external: ["better-sqlite3", "bufferutil", "utf-8-validate", "msgpackr-extract"],
  // CommonJS dependencies call require(): give the ES module one
  banner: {
    js:
      "import { createRequire as __arcpRequire } from \"node:module\"; const require = __arcpRequire(import.meta.url);"
  }
})
