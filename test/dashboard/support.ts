/** Test support for the dashboard: `arcp serve` with its dashboard, and a Chromium for playwright-core. */
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync, mkdirSync } from "node:fs"
import { join } from "node:path"

export const root = join(import.meta.dirname, "..", "..")
const bin = join(root, "bin", "arcp.js")

/** The Chromium playwright-core drives: $ARCP_CHROMIUM, else Debian's package (`apt-get install chromium`). */
export const chromiumPath: string | undefined = [
  process.env["ARCP_CHROMIUM"],
  "/usr/bin/chromium",
  "/usr/bin/chromium-browser",
  "/usr/bin/google-chrome"
].find((p): p is string => p !== undefined && p !== "" && existsSync(p))

export const noBrowserReason =
  "no Chromium found (install Debian's chromium, or set ARCP_CHROMIUM): browser tests skipped"

/** Where screenshots go: docs/screenshots with ARCP_SCREENSHOTS=docs (to refresh the README's), else .scratch. */
export const screenshotDir = (): string => {
  const dir = process.env["ARCP_SCREENSHOTS"] === "docs"
    ? join(root, "docs", "screenshots")
    : join(root, ".scratch", "screenshots")
  mkdirSync(dir, { recursive: true })
  return dir
}

export interface Served {
  readonly child: ChildProcess
  /** The runtime's WebSocket address. */
  readonly address: string
  /** The dashboard page's URL (without the token fragment). */
  readonly dashboard: string
  readonly output: () => string
}

/** Starts `arcp serve` with `args`; resolves once it has printed both its WebSocket address and its dashboard URL. */
export const serve = (args: ReadonlyArray<string>): Promise<Served> =>
  new Promise((resolve, reject) => {
    const child = spawn("node", [bin, "serve", ...args], { cwd: root, stdio: ["ignore", "pipe", "pipe"] })
    let out = ""
    const onData = (chunk: Buffer) => {
      out += chunk.toString()
      const address = /serving on (ws:\/\/\S+)/.exec(out)?.[1]
      const dashboard = /dashboard: (http:\/\/[^\s#]+)/.exec(out)?.[1]
      if (address !== undefined && dashboard !== undefined) {
        child.off("exit", onExit)
        resolve({ child, address, dashboard, output: () => out })
      }
    }
    const onExit = (code: number | null) => reject(new Error(`serve exited early with ${code}: ${out}`))
    child.stdout?.on("data", onData)
    child.stderr?.on("data", (chunk: Buffer) => (out += chunk.toString()))
    child.once("exit", onExit)
  })

/** Stops a served runtime and waits for its exit. */
export const stop = (served: Served | undefined): Promise<void> =>
  new Promise((resolve) => {
    const child = served?.child
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return resolve()
    child.once("exit", () => resolve())
    child.kill("SIGTERM")
  })
