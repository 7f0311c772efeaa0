/**
 * Bundles the observer dashboard (src/dashboard/web) into dist/web: app.js (Preact, the page, and the
 * protocol's own message schemas from src/protocol), app.css and index.html. `arcp serve --dashboard-port`
 * serves these files. Run by `npm run build` (and so by `prepare` on `npm ci`).
 *
 * Two aliases keep node-only code out of the browser: node:crypto (ids' random bytes) becomes the Web
 * Crypto API, and fast-check (which effect/Schema references only to build test arbitraries) an empty module.
 */
import { build } from "esbuild"
import { copyFile, mkdir } from "node:fs/promises"
import { join } from "node:path"

const root = join(import.meta.dirname, "..")
const web = join(root, "src", "dashboard", "web")
const out = join(root, "dist", "web")

await mkdir(out, { recursive: true })
const result = await build({
  entryPoints: [join(web, "main.tsx")],
  outfile: join(out, "app.js"),
  bundle: true,
  platform: "browser",
  format: "esm",
  target: ["chrome110", "firefox115", "safari16"],
  minify: true,
  legalComments: "eof",
  logLevel: "warning",
  jsx: "automatic",
  jsxImportSource: "preact",
  alias: {
    "node:crypto": join(web, "shims", "crypto.ts"),
    "fast-check": join(web, "shims", "empty.ts")
  },
  metafile: true
})
await copyFile(join(web, "index.html"), join(out, "index.html"))
await copyFile(join(web, "styles.css"), join(out, "app.css"))
if (process.argv.includes("--size")) {
  for (const [file, info] of Object.entries(result.metafile.outputs)) console.log(`${file}: ${info.bytes} bytes`)
}
