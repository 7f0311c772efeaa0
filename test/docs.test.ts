/**
 * The guides' commands run and their links resolve. In README.md and docs/*.md:
 *
 * - ```` ```sh runnable ````: each command (a line; `\` continues it) runs in bash from the repository
 *   root, with `arcp` on the PATH (this build's bin/arcp.js); the `#> TEXT` lines under it must appear in
 *   its output (stdout and stderr), and `#> exit N` sets the exit code it must end with (0 otherwise).
 *   A command ending in `&` is a server: the block goes on once its `#>` texts have appeared, and when
 *   the block ends it gets SIGTERM and must exit 0. The environment points `ARCP_URL`/`ARCP_TOKEN` at a
 *   server the suite started, sets `ARCP_PORT=0`, `ARCP_HTTP2_PORT=0`, `ARCP_DB` (a temporary file)
 *   and a fresh `TMPDIR` per block, so runs never collide.
 * - ```` ```sh template ````: commands with placeholders (`<token>`, files of yours), not run. Every
 *   shell block must be one or the other, so none is left unchecked by accident.
 * - ```` ```ts from examples/FILE ```` (or `js`, `mjs`): the block must be an excerpt of that example,
 *   which test/examples.test.ts runs — a snippet in a guide cannot drift from code that works.
 */
import { assert, describe, it } from "@effect/vitest"
import { type ChildProcess, spawn } from "node:child_process"
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { dirname, join, relative } from "node:path"
import { afterAll, beforeAll } from "vitest"
import { bin, root, serveWs } from "./support/Child.js"
import { makeTempDir, type TempDir, withTempDir } from "./support/TempDir.js"

interface Block {
  readonly file: string
  readonly line: number
  readonly info: string
  readonly body: string
}

interface Step {
  readonly command: string
  readonly expect: ReadonlyArray<string>
  readonly exit: number
  readonly background: boolean
}

const docs = ["README.md", ...readdirSync(join(root, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)]

/** The fenced blocks of a Markdown file, with the line each opens on. */
const blocksOf = (file: string): ReadonlyArray<Block> => {
  const lines = readFileSync(join(root, file), "utf8").split("\n")
  const blocks: Array<Block> = []
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S.*)$/.exec(lines[i] ?? "")
    if (open === null) continue
    const start = i
    const body: Array<string> = []
    for (i++; i < lines.length && lines[i] !== "```"; i++) body.push(lines[i] ?? "")
    blocks.push({ file, line: start + 1, info: (open[1] ?? "").trim(), body: body.join("\n") })
  }
  return blocks
}

/** The commands of a runnable block, each with the expectations written under it. */
const stepsOf = (body: string): ReadonlyArray<Step> => {
  const steps: Array<{ command: string; expect: Array<string>; exit: number; background: boolean }> = []
  let continued = ""
  for (const raw of body.split("\n")) {
    const line = raw.trimEnd()
    const expectation = /^#> (.*)$/.exec(line)
    if (expectation !== null) {
      const last = steps.at(-1)
      if (last === undefined) throw new Error(`an expectation before any command: ${line}`)
      const exit = /^exit (\d+)$/.exec(expectation[1] ?? "")
      if (exit !== null) last.exit = Number(exit[1])
      else last.expect.push(expectation[1] ?? "")
      continue
    }
    if (line === "" || line.startsWith("#")) continue
    if (line.endsWith("\\")) {
      continued += `${line.slice(0, -1)} `
      continue
    }
    const command = `${continued}${line}`.trim()
    continued = ""
    const background = command.endsWith("&")
    steps.push({ command: background ? command.slice(0, -1).trim() : command, expect: [], exit: 0, background })
  }
  return steps
}

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens. */
const slug = (heading: string) => heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/\s/g, "-")

/** Relative links of a Markdown file (outside code) that do not resolve: a missing file or heading. */
const brokenLinks = (file: string): ReadonlyArray<string> => {
  const text = readFileSync(join(root, file), "utf8").replace(/^```[\s\S]*?^```/gm, "")
  const broken: Array<string> = []
  for (const [, target = ""] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
    if (/^[a-z]+:/.test(target) || target.includes("docs/api/") || target.startsWith("api/")) continue
    const [path = "", anchor] = target.split("#")
    const resolved = path === "" ? join(root, file) : join(root, dirname(file), path)
    if (!existsSync(resolved)) {
      broken.push(`${file}: ${target} (no ${relative(root, resolved)})`)
      continue
    }
    if (anchor === undefined || !resolved.endsWith(".md")) continue
    const headings = [...readFileSync(resolved, "utf8").matchAll(/^#+ (.*)$/gm)].map(([, h = ""]) => slug(h))
    if (!headings.includes(anchor)) broken.push(`${file}: ${target} (no heading #${anchor})`)
  }
  return broken
}

const all = docs.flatMap(blocksOf)
const runnable = all.filter((b) => /^(sh|bash|console) runnable$/.test(b.info))
const excerpts = all.filter((b) => /^(ts|js|mjs) from examples\/\S+$/.test(b.info))

let shim: TempDir | undefined
let env: Record<string, string> = {}
let server: ChildProcess | undefined

beforeAll(async () => {
  shim = makeTempDir("arcp-docs-")
  writeFileSync(join(shim.dir, "arcp"), `#!/bin/sh\nexec node "${bin}" "$@"\n`)
  chmodSync(join(shim.dir, "arcp"), 0o755)
  const started = await serveWs(["--db", ":memory:", "--bearer", "doc-token=reader"])
  server = started.child
  env = {
    PATH: `${shim.dir}:${process.env["PATH"] ?? ""}`,
    ARCP_URL: started.address,
    ARCP_TOKEN: "doc-token",
    ARCP_PORT: "0",
    ARCP_HTTP2_PORT: "0",
    ARCP_DB: join(shim.dir, "arcp.db"),
    NO_COLOR: "1"
  }
}, 120_000)

afterAll(() => {
  server?.kill("SIGKILL")
  shim?.remove()
})

/** A started command: its output so far, and its exit code once it has ended. */
interface Running {
  readonly child: ChildProcess
  readonly output: () => string
  readonly closed: Promise<number | null>
}

const start = (step: Step, blockEnv: Record<string, string>): Running => {
  const child = spawn("bash", ["-c", step.background ? `exec ${step.command}` : step.command], {
    cwd: root,
    env: { ...process.env, ...env, ...blockEnv },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let output = ""
  const onData = (chunk: Buffer) => {
    output += chunk.toString()
  }
  child.stdout.on("data", onData)
  child.stderr.on("data", onData)
  const closed = new Promise<number | null>((resolve) => child.once("close", resolve))
  return { child, output: () => output, closed }
}

/** Waits until a server printed all of `texts`, or ended, or 60 s passed. */
const ready = async (running: Running, texts: ReadonlyArray<string>) => {
  let ended = false
  void running.closed.then(() => (ended = true))
  for (let waited = 0; waited < 60_000 && !ended; waited += 50) {
    if (texts.every((t) => running.output().includes(t))) return
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** Runs a block's steps in order; its servers run until the block ends, then get SIGTERM. */
const runBlock = (block: Block) =>
  withTempDir("arcp-doc-block-", async (blockTmp) => {
    const servers: Array<{ step: Step; running: Running }> = []
    try {
      for (const step of stepsOf(block.body)) {
        const running = start(step, { TMPDIR: blockTmp })
        const where = () => `${block.file}:${block.line} \`${step.command}\` printed:\n${running.output()}`
        if (step.background) {
          await ready(running, step.expect)
          for (const text of step.expect) assert.include(running.output(), text, where())
          servers.push({ step, running })
          continue
        }
        const code = await running.closed
        for (const text of step.expect) assert.include(running.output(), text, where())
        assert.strictEqual(code, step.exit, where())
      }
      for (const { running, step } of servers) {
        running.child.kill("SIGTERM")
        // graceful shutdown: a server stopped by SIGTERM exits 0
        assert.strictEqual(
          await running.closed,
          0,
          `${block.file}:${block.line} \`${step.command}\`: ${running.output()}`
        )
      }
    } finally {
      for (const { running } of servers) running.child.kill("SIGKILL")
    }
  })

describe("docs", () => {
  it("the guides have runnable commands and example excerpts to check", () => {
    assert.isAtLeast(runnable.length, 5)
    assert.isAtLeast(excerpts.length, 2)
  })

  it("the block parser reads commands, continuations, expectations and servers", () => {
    const steps = stepsOf(
      "arcp send \\\n  --type ping\n#> pong\n# a comment\narcp serve &\n#> serving on\narcp x\n#> exit 2"
    )
    assert.deepStrictEqual(steps, [
      { command: "arcp send    --type ping", expect: ["pong"], exit: 0, background: false },
      { command: "arcp serve", expect: ["serving on"], exit: 0, background: true },
      { command: "arcp x", expect: [], exit: 2, background: false }
    ])
  })

  it("every relative link in README.md, docs/*.md and examples/README.md resolves, headings included", () => {
    assert.deepStrictEqual([...docs, "examples/README.md"].flatMap(brokenLinks), [])
  })

  it("every shell block is marked: runnable (run here) or template (placeholders, not run)", () => {
    const unmarked = all.filter((b) => /^(sh|bash|console|shell)$/.test(b.info)).map((b) => `${b.file}:${b.line}`)
    assert.deepStrictEqual(unmarked, [], "mark each ```sh block `sh runnable` (with #> expectations) or `sh template`")
  })

  for (const block of runnable) {
    it.concurrent(`${block.file}:${block.line} runs as written`, () => runBlock(block), 180_000)
  }

  for (const block of excerpts) {
    it(`${block.file}:${block.line} is an excerpt of ${block.info.split(" ").at(-1)}`, () => {
      const file = block.info.split(" ").at(-1) ?? ""
      const source = readFileSync(join(root, file), "utf8")
      assert.include(source, block.body, `${block.file}:${block.line} differs from ${file}`)
    })
  }
})
