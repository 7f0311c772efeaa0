/**
 * Every program under examples/ runs and prints what its comments promise, twice: against the sources
 * (tsx, through tsconfig's paths for `arcp` and `arcp/promise`) and against the built package (Node's
 * own resolution of the package's name to dist/, which the suite's global setup keeps built).
 */
import { assert, describe, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import { join } from "node:path"

const root = join(import.meta.dirname, "..")

type Mode = "sources" | "built package"

/** tsx without the paths (a tsconfig of its own) leaves `arcp` to Node: the package's exports, dist/. */
const commandFor = (file: string, mode: Mode) =>
  mode === "sources"
    ? { args: ["--import", "tsx", join(root, "examples", file)], env: {} }
    : file.endsWith(".ts")
    ? {
      args: ["--import", "tsx", join(root, "examples", file)],
      env: { TSX_TSCONFIG_PATH: join(root, "test", "fixtures", "tsconfig.dist.json") }
    }
    : { args: [join(root, "examples", file)], env: {} }

const run = (file: string, mode: Mode) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const { args, env } = commandFor(file, mode)
    execFile("node", args, { cwd: root, env: { ...process.env, ...env } }, (error, stdout, stderr) =>
      resolve({ code: error === null ? 0 : 1, stdout, stderr }))
  })

describe("examples", () => {
  for (const mode of ["sources", "built package"] as const) {
    it(`effect-quickstart invokes a typed tool and prints its events and result (${mode})`, async () => {
      const { code, stderr, stdout } = await run("effect-quickstart.ts", mode)
      assert.strictEqual(code, 0, stderr)
      assert.include(stdout, "event job.progress")
      assert.include(stdout, "result {\"greeting\":\"hello ada\"}")
    }, 90_000)

    it(`promise-quickstart runs a Promise tool through arcp/promise (${mode})`, async () => {
      const { code, stderr, stdout } = await run("promise-quickstart.mjs", mode)
      assert.strictEqual(code, 0, stderr)
      assert.include(stdout, "event tool.result")
      assert.include(stdout, "result 5")
    }, 90_000)

    it(
      `R10.1-1 R10.6-1 scheduled-retries retries a failing tool under one job, then schedules it and sees its firing (${mode})`,
      async () => {
        const { code, stderr, stdout } = await run("scheduled-retries.ts", mode)
        assert.strictEqual(code, 0, stderr)
        assert.include(stdout, "scheduled_jobs true")
        assert.include(stdout, "retry attempt 1 of 4 failed with UNAVAILABLE")
        assert.include(stdout, "retry attempt 2 of 4 failed with UNAVAILABLE")
        assert.include(stdout, "result {\"key\":\"ada\",\"value\":\"ADA\",\"attempt\":3}")
        assert.include(stdout, "fired {\"result\":{\"key\":\"grace\",\"value\":\"GRACE\",\"attempt\":1}}")
      },
      90_000
    )

    it(
      `mcp-tools wraps a stdio MCP server: its tool is discovered as hello.say and runs as a job, its resource is read as an artifact (${mode})`,
      async () => {
        const { code, stderr, stdout } = await run("mcp-tools.ts", mode)
        assert.strictEqual(code, 0, stderr)
        assert.include(stdout, "tool hello.say: Greets someone")
        assert.include(stdout, "event tool.result")
        assert.include(stdout, "result \"hello ada\"")
        assert.include(stdout, "resource hello://motd as artifact: keep your MCP tools, gain jobs")
      },
      90_000
    )

    it(
      `R14-1 R14-2 R17.1-3 delegation: two arcp serve processes, A delegates to B, cancel propagates, B refuses a foreign handoff, one trace (${mode})`,
      async () => {
        const { code, stderr, stdout } = await run("delegation.ts", mode)
        assert.strictEqual(code, 0, stderr)
        assert.include(stdout, "delegated result {\"greeting\":\"hi\"}")
        assert.include(stdout, "A's job CANCELLED")
        assert.include(stdout, "B's delegated job: cancel.refused already_terminal")
        assert.include(stdout, "handoff to runtime-c refused: PERMISSION_DENIED")
        assert.include(stdout, "handoff to runtime-b accepted")
        assert.include(stdout, "one trace across runtime-a and runtime-b: true")
      },
      90_000
    )
    for (const framework of ["node-http", "express", "fastify", "hono"]) {
      it(
        `mount-${framework} mounts arcp on the application's own server at /arcp; its routes carry on (${mode})`,
        async () => {
          const { code, stderr, stdout } = await run(`mount-${framework}.mjs`, mode)
          assert.strictEqual(code, 0, stderr)
          assert.include(stdout, `result "HELLO FROM ${framework.toUpperCase().replace("-", ":")}"`)
          assert.match(stdout, /says ok|answers \/health/)
        },
        90_000
      )
    }

    it(`mcp-host serves a runtime's tools to an MCP client, with progress (${mode})`, async () => {
      const { code, stderr, stdout } = await run("mcp-host.ts", mode)
      assert.strictEqual(code, 0, stderr)
      assert.include(stdout, "mcp tools count")
      assert.include(stdout, "mcp progress 1/3")
      assert.include(stdout, "mcp result {\"counted\":3}")
    }, 90_000)

    it(`permission-refund asks permission before a pretend refund; the Promise client approves (${mode})`, async () => {
      const { code, stderr, stdout } = await run("permission-refund.mjs", mode)
      assert.strictEqual(code, 0, stderr)
      assert.include(stdout, "asked: payment.refund.create on order:ord_4812")
      assert.include(stdout, "granted payment.refund.create on order:ord_4812")
      assert.include(stdout, "event lease.granted")
      assert.include(stdout, "result {\"order\":\"ord_4812\",\"refunded\":25}")
    }, 90_000)

    it(`artifacts uploads, runs a tool that stores its output, and streams both back (${mode})`, async () => {
      const { code, stderr, stdout } = await run("artifacts.mjs", mode)
      assert.strictEqual(code, 0, stderr)
      assert.include(stdout, "binary encodings base64,sidecar")
      assert.include(stdout, "put 3145728 bytes")
      assert.include(stdout, "fetched sha256 matches true")
      assert.include(stdout, "tool artifact text/plain 8893 bytes, last line \"line 1000\"")
    }, 90_000)
  }
})
