/**
 * bench/run: runs every bench module (bench/*.ts but this one), in name order,
 * each in its own `node --import tsx` process so one bench's JIT and heap state
 * do not colour the next. Exits non-zero if any bench does. Names given on the command line
 * (`npm run bench -- sidebyside invoke`) run only those benches.
 */
import { spawnSync } from "node:child_process"
import { readdirSync } from "node:fs"
import { basename, dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const dir = dirname(fileURLToPath(import.meta.url))
const self = basename(fileURLToPath(import.meta.url))
const wanted = process.argv.slice(2).map((name) => name.replace(/\.ts$/, ""))
const benches = readdirSync(dir)
  .filter((f) => f.endsWith(".ts") && f !== self)
  .filter((f) => wanted.length === 0 || wanted.includes(f.replace(/\.ts$/, "")))
  .sort()

let failed = 0
for (const file of benches) {
  const { status } = spawnSync(process.execPath, ["--import", "tsx", join(dir, file)], { stdio: "inherit" })
  if (status !== 0) {
    console.error(`bench/${file} exited with ${status ?? "a signal"}`)
    failed++
  }
  console.log()
}
process.exitCode = failed === 0 ? 0 : 1
