/** `arcp serve --transport stdio` as a child process: the runtime over real pipes, as a client would spawn it. */
import { Effect, Layer, type Scope } from "effect"
import { type ChildProcess, type ChildProcessByStdio, execFile, spawn } from "node:child_process"
import { join } from "node:path"
import type { Readable, Writable } from "node:stream"
import * as Stdio from "../../src/transport/Stdio.js"
import type { Connection } from "../../src/transport/Transport.js"
import { Dialer } from "./Dialer.js"

export const root = join(import.meta.dirname, "..", "..")
export const bin = join(root, "bin", "arcp.js")

type Process = ChildProcessByStdio<Writable, Readable, Readable>

/** A spawned server and the connection over its pipes. */
export interface Child {
  readonly process: Process
  readonly connection: Connection
  /** Completes with the exit code (null when killed by a signal) once the process has ended. */
  readonly exited: Effect.Effect<number | null>
  /** What the child wrote to stderr so far (its logs), for failure messages. */
  readonly stderr: () => string
}

/** Waits for `child` to exit, also when it already has. */
export const exitOf = (child: ChildProcess): Effect.Effect<number | null> =>
  Effect.async<number | null>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.succeed(child.exitCode))
    const onExit = (code: number | null) => resume(Effect.succeed(code))
    child.once("exit", onExit)
    return Effect.sync(() => child.off("exit", onExit))
  })

/** Starts `arcp serve` (WebSocket, port 0) with `args` and `env`; resolves with its address once it prints it. */
/** What a finished `arcp` command left: its exit code (-1 when it was killed) and its output. */
export interface CliRun {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Runs the `arcp` command to its end with `args` (and `env` over this process's environment). */
export const runArcp = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  new Promise<CliRun>((resolve) => {
    execFile(
      "node",
      [bin, ...args],
      { cwd: root, env: { ...process.env, ...env }, timeout: 60_000, maxBuffer: 1 << 24 },
      (error, stdout, stderr) =>
        resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : -1, stdout, stderr })
    )
  })

/** `arcp serve --db :memory:` with `args`; resolves with every address it prints once it serves. */
export const serveAddresses = (args: ReadonlyArray<string>) =>
  new Promise<{ child: ChildProcess; addresses: ReadonlyArray<string> }>((resolve, reject) => {
    const child = spawn("node", [bin, "serve", "--db", ":memory:", ...args], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"]
    })
    let out = ""
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString()
      const match = /serving on (.+?) \(event log/.exec(out)
      if (match?.[1] !== undefined) resolve({ child, addresses: match[1].split(" ") })
    })
    child.stderr.resume()
    child.once("exit", (code) => reject(new Error(`serve exited early with ${code}: ${out}`)))
  })

/** Stops a spawned process with SIGTERM; resolves with its exit code. */
export const stopChild = (child: ChildProcess) => {
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
  child.kill("SIGTERM")
  return exited
}

/**
 * `arcp serve --port 0` with `args` (and `env`); resolves with its child and address once it listens. `command`: what
 * `node` runs before `serve` (V8 flags, another entry point), bin/arcp.js by default.
 */
export const serveWs = (
  args: ReadonlyArray<string>,
  env: Record<string, string> = {},
  command: ReadonlyArray<string> = [bin]
) =>
  new Promise<{ child: ChildProcess; address: string }>((resolve, reject) => {
    const child = spawn("node", [...command, "serve", "--port", "0", ...args], {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let out = ""
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString()
      const match = /serving on (ws:\/\/[^\s]+)/.exec(out)
      if (match?.[1] !== undefined) resolve({ child, address: match[1] })
    })
    child.once("exit", (code) => reject(new Error(`serve exited early with ${code}: ${out}`)))
  })

const logs = new WeakMap<Process, { text: string }>()

/** Starts `arcp serve --transport stdio --db :memory:` with `args`; its stderr is drained and its tail kept. */
const start = (args: ReadonlyArray<string>): Process => {
  const child = spawn("node", [bin, "serve", "--transport", "stdio", "--db", ":memory:", ...args], {
    cwd: root,
    stdio: ["pipe", "pipe", "pipe"]
  })
  const log = { text: "" }
  logs.set(child, log)
  // drained so a chatty child never blocks on a full pipe
  child.stderr.on("data", (chunk: Buffer) => {
    log.text = (log.text + chunk.toString()).slice(-8192)
  })
  return child
}

/** Takes charge of a started child: with the scope its stdin is closed (a graceful stop), and it is killed if still running 10 s later. */
const attach = (started: Process): Effect.Effect<Child, never, Scope.Scope> =>
  Effect.gen(function*() {
    const child = yield* Effect.acquireRelease(Effect.succeed(started), (c) =>
      Effect.sync(() => c.stdin.end()).pipe(
        Effect.zipRight(exitOf(c)),
        Effect.timeout("10 seconds"),
        Effect.catchAll(() => Effect.sync(() => c.kill("SIGKILL"))),
        Effect.asVoid
      ))
    const connection = yield* Stdio.make({
      input: child.stdout,
      output: child.stdin,
      label: `arcp serve #${child.pid ?? "?"}`
    })
    return { process: child, connection, exited: exitOf(child), stderr: () => logs.get(child)?.text ?? "" }
  })

/** Spawns `arcp serve --transport stdio --db :memory:` with `args`, stopped with the scope. */
export const spawnServe = (args: ReadonlyArray<string>): Effect.Effect<Child, never, Scope.Scope> =>
  Effect.suspend(() => attach(start(args)))

/** A dialer that spawns a fresh child per connection: stdio serves exactly one, so children cannot be shared. */
export const dialer = (args: ReadonlyArray<string>): Layer.Layer<Dialer> =>
  Layer.succeed(Dialer, Dialer.of({ dial: Effect.map(spawnServe(args), (child) => child.connection) }))

/** `node ARGS` (with `env`); resolves once its stdout says "serving on". Its output is drained. */
export const spawnServing = (nodeArgs: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  new Promise<ChildProcess>((resolve, reject) => {
    const child = spawn("node", [...nodeArgs], {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let out = ""
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString()
      if (out.includes("serving on")) resolve(child)
    })
    child.stderr.on("data", (chunk: Buffer) => {
      out += chunk.toString()
    })
    child.once("exit", (code) => reject(new Error(`${nodeArgs.join(" ")} exited early with ${code}: ${out}`)))
  })

/** `arcp serve --port PORT` with `args` (and `env`); resolves once it serves. Its output is drained. */
export const serveOn = (port: number, args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  spawnServing([bin, "serve", "--port", String(port), ...args], env)

/** Stops `child` with `signal` (SIGTERM: gracefully; SIGKILL: as a crash); resolves once it has exited. */
export const stopWith = (child: ChildProcess, signal: NodeJS.Signals) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.once("exit", () => resolve())
    child.kill(signal)
  })
