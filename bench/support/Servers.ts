/**
 * The server processes and load runs the side-by-side benches share (bench/sidebyside, bench/profiles): a
 * server started in its own process group and known by the URL it prints, the peer's start script when it is
 * beside the clone, and one load in a fresh load-generator process (bench/support/loadgen.ts).
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { existsSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { performance } from "node:perf_hooks"
import { fileURLToPath } from "node:url"

export const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..")
export const TOKEN = "tok"

export interface Server {
  readonly name: string
  readonly url: string
  readonly pid: number
  readonly startMs: number
  readonly child: ChildProcess
  /** Starts the same server again, in a new process (arcp on a new log file). */
  readonly again: () => Promise<Server>
}

/** The peer's serve-peer.sh: $ARCP_PEER, or ../shared/peers/ beside the repository or its worktree folder. */
export const peerScript = (): string | undefined =>
  [
    process.env["ARCP_PEER"],
    join(root, "..", "shared", "peers", "serve-peer.sh"),
    join(root, "..", "..", "shared", "peers", "serve-peer.sh")
  ].find((path) => path !== undefined && existsSync(path))

/**
 * Spawns a server in its own process group and resolves once it prints the URL it listens on. `args` is called
 * for each start (the how-many-th), so a restarted server can be given a new log file.
 */
export const start = (
  name: string,
  command: string,
  args: (n: number) => Array<string>,
  pattern: RegExp,
  timeoutMs: number,
  options: {
    readonly env?: NodeJS.ProcessEnv
    /** "pipe" keeps the server's stdin open (a server that stops when it closes) */
    readonly stdin?: "pipe" | "ignore"
  } = {},
  n = 0
): Promise<Server> =>
  new Promise<Server>((resolvePromise, reject) => {
    const t0 = performance.now()
    const child = spawn(command, args(n), {
      cwd: root,
      detached: true,
      stdio: [options.stdin ?? "ignore", "pipe", "pipe"],
      ...(options.env !== undefined ? { env: options.env } : {})
    })
    let out = ""
    const timer = setTimeout(() => reject(new Error(`${name} did not start in ${timeoutMs} ms: ${out}`)), timeoutMs)
    const onData = (data: Buffer) => {
      out += data.toString()
      const match = pattern.exec(out)
      if (match?.[1] !== undefined) {
        clearTimeout(timer)
        child.stdout?.removeAllListeners("data")
        child.stdout?.resume()
        child.stderr?.resume()
        resolvePromise({
          name,
          url: match[1],
          pid: child.pid ?? 0,
          startMs: performance.now() - t0,
          child,
          again: () => start(name, command, args, pattern, timeoutMs, options, n + 1)
        })
      }
    }
    child.stdout?.on("data", onData)
    child.stderr?.on("data", onData)
    child.once("exit", (code) => reject(new Error(`${name} exited with ${code}: ${out}`)))
  })

/** Stops a server's whole process group. */
export const stop = (server: Server, signal: NodeJS.Signals = "SIGTERM") => {
  try {
    process.kill(-server.pid, signal)
  } catch {
    // already gone
  }
}

/** What the load generator reports: every latency (ms) and, for event loads, the events counted. */
export interface LoadReport {
  readonly elapsedMs: number
  readonly latencies: Array<number>
  readonly events?: number
}

/** Runs one load in a fresh load-generator process against `url`; an error says why it failed. */
export const runLoadgen = (
  url: string,
  load: Record<string, unknown>,
  seconds: number
): LoadReport | { readonly error: string } => {
  const description = JSON.stringify({ url, token: TOKEN, seconds, ...load })
  const child = spawnSync(process.execPath, [
    "--import",
    "tsx",
    join(root, "bench", "support", "loadgen.ts"),
    description
  ], {
    cwd: root,
    encoding: "utf8",
    maxBuffer: 256 * 1024 * 1024,
    timeout: (seconds + 60) * 1000 // a server that stops answering fails its row instead of hanging the run
  })
  if (child.status !== 0) return { error: child.error?.message ?? child.stderr.trim() }
  return JSON.parse(child.stdout.trim().split("\n").at(-1) ?? "{}") as LoadReport
}
