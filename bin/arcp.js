#!/usr/bin/env node
// The `arcp` command: runs the compiled, bundled CLI (dist/arcp.cjs, with its code cache: codeCache.js).
// `npm ci` builds it (the `prepare` script), as does `npm run build`; the published package ships it built.
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"

// A reader that stops early (`arcp validate big.jsonl | head`) is not an error.
process.stdout.on("error", (e) => {
  if (e.code === "EPIPE") process.exit(process.exitCode ?? 0)
  throw e
})

const cli = fileURLToPath(new URL("../dist/arcp.cjs", import.meta.url))
if (!existsSync(cli)) {
  console.error("arcp is not built yet: run `npm run build` in its folder (`npm ci` does it too).")
  process.exit(1)
}
// `arcp version` answers from one small module, without loading the CLI
if (process.argv.length === 3 && process.argv[2] === "version") {
  const { versionLine } = await import("../dist/Version.js")
  console.log(versionLine())
} else {
  const { runWithCodeCache } = await import("./codeCache.js")
  runWithCodeCache(cli)
}
