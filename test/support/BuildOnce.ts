/**
 * Vitest global setup: makes sure dist/ is built from the current sources before any test runs.
 * Spawned servers run the real `arcp` command (bin/arcp.js → the bundle in dist/), the examples and the
 * packed package run against dist/, so a stale dist/ would test yesterday's code. It rebuilds only when a
 * source (or the build configuration) is newer than the build.
 */
import { execFileSync } from "node:child_process"
import { existsSync, readdirSync, statSync } from "node:fs"
import { join } from "node:path"

const root = join(import.meta.dirname, "..", "..")

const newest = (path: string): number =>
  statSync(path).isDirectory()
    ? readdirSync(path).reduce((max, name) => Math.max(max, newest(join(path, name))), 0)
    : statSync(path).mtimeMs

/** The oldest of the build's outputs, or 0 when one is missing. */
const builtAt = (): number => {
  const outputs = ["arcp.cjs", "index.js", "client/promise/Promise.js", "Version.js", "web/app.js"].map((f) =>
    join(root, "dist", f)
  )
  return outputs.every(existsSync) ? Math.min(...outputs.map((f) => statSync(f).mtimeMs)) : 0
}

export default function setup(): void {
  const inputs = [
    "src",
    "package.json",
    "tsconfig.json",
    "tsconfig.build.json",
    "scripts/bundle-cli.ts",
    "scripts/bundle-dashboard.ts"
  ]
  const changed = Math.max(...inputs.map((p) => newest(join(root, p))))
  if (builtAt() >= changed) return
  execFileSync("npm", ["run", "--silent", "build"], { cwd: root, stdio: ["ignore", "ignore", "inherit"] })
}
