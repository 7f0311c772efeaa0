/**
 * The mistakes people make with the `arcp` command, each answered by one sentence on stderr saying what is
 * wrong and what to do, an exit status of 1 or 2, and never a stack trace or a dumped cause.
 */
import { assert, describe, it } from "@effect/vitest"
import { writeFileSync } from "node:fs"
import { createServer, type Server } from "node:net"
import { join } from "node:path"
import { type CliRun, runArcp, serveWs } from "../support/Child.js"
import { withTempDir } from "../support/TempDir.js"

const arcp = runArcp

/** Exactly one sentence (the lines @effect/cli pads it with aside), no stack frame, no JSON, no Effect cause. */
const assertOneSentence = (run: CliRun, sentence: string, code: number) => {
  assert.strictEqual(run.code, code, run.stderr)
  const lines = run.stderr.split("\n").filter((l) => l.trim() !== "")
  assert.deepStrictEqual(lines, [sentence])
  assert.notMatch(run.stderr, /\n\s+at |\{"_tag"|FiberFailure|level=ERROR|└─/)
}

const listening = () =>
  new Promise<{ server: Server; port: number }>((resolve) => {
    const server = createServer()
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      resolve({ server, port: typeof address === "object" && address !== null ? address.port : 0 })
    })
  })

describe("arcp serve: errors", () => {
  it("a port in use is named, with what to do", async () => {
    const { port, server } = await listening()
    try {
      const run = await arcp(["serve", "--port", String(port), "--db", ":memory:"])
      assertOneSentence(
        run,
        `arcp: port ${port} on 127.0.0.1 is already in use: stop what holds it, or choose another with --port (0 picks a free one)`,
        1
      )
    } finally {
      server.close()
    }
  }, 60_000)

  it("--port 99999 and ARCP_PORT=abc are refused by the parser", async () => {
    assertOneSentence(
      await arcp(["serve", "--port", "99999", "--db", ":memory:"]),
      "--port must be a port number from 0 to 65535 (0 picks a free one)",
      2
    )
    assertOneSentence(
      await arcp(["serve", "--db", ":memory:"], { ARCP_PORT: "abc" }),
      "(Invalid data at ARCP_PORT: \"Expected an integer value but received \"abc\"\")",
      2
    )
  }, 60_000)

  it("a negative --log-retention is refused, saying what 0 means", async () => {
    assertOneSentence(
      await arcp(["serve", "--db", ":memory:", "--log-retention", "-5"]),
      "arcp: --log-retention (-5) and --replay-retention (86400) must not be negative (--log-retention 0 keeps the whole log, --replay-retention 0 turns replay off)",
      2
    )
  }, 60_000)

  it(
    "a --db that cannot be a database: a missing folder, a directory, a file that is not SQLite",
    () =>
      withTempDir("arcp-db-", async (dir) => {
        const missing = join(dir, "nope", "events.db")
        assertOneSentence(
          await arcp(["serve", "--port", "0", "--db", missing]),
          `arcp: --db ${missing}: the folder ${join(dir, "nope")} does not exist; create it or choose another path`,
          2
        )
        assertOneSentence(
          await arcp(["serve", "--port", "0", "--db", dir]),
          `arcp: --db ${dir} is a directory: give the path of a database file (or :memory:)`,
          2
        )
        const text = join(dir, "notes.txt")
        writeFileSync(text, "this is not a database, just some words long enough to fill a header page\n".repeat(20))
        assertOneSentence(
          await arcp(["serve", "--port", "0", "--db", text]),
          `arcp: --db ${text} is not an SQLite database: choose a new file, or the event log of an earlier arcp serve`,
          1
        )
      }),
    60_000
  )

  it("an unknown flag and a mistyped command get the parser's sentence alone, exit 2", async () => {
    assertOneSentence(await arcp(["serve", "--bogus"]), "Received unknown argument: '--bogus'", 2)
    assertOneSentence(
      await arcp(["sned"]),
      "Invalid subcommand for arcp - use one of 'serve', 'send', 'tail', 'tools', 'mcp', 'artifact', 'validate', 'version'",
      2
    )
  }, 60_000)
})

describe("arcp send: errors", () => {
  it("no credentials: says to pass --token or set ARCP_TOKEN", async () => {
    const run = await arcp(["send", "--url", "ws://127.0.0.1:9"], { ARCP_TOKEN: "" })
    assertOneSentence(
      run,
      "arcp: no credentials: pass --token or set ARCP_TOKEN (or --jwt-secret to sign a JWT, --tls-cert with --tls-key for mtls, or --anonymous where the runtime allows it)",
      2
    )
  }, 60_000)

  it("a closed port: connection refused", async () => {
    const { port, server } = await listening()
    await new Promise((resolve) => server.close(resolve)) // a port nobody listens on
    assertOneSentence(
      await arcp(["send", "--url", `ws://127.0.0.1:${port}`, "--token", "t"]),
      `arcp: connection refused at ws://127.0.0.1:${port}: is \`arcp serve\` running there? (set the address with --url or ARCP_URL)`,
      1
    )
  }, 60_000)

  it(
    "tool arguments of the wrong shape: the field and what it must be; --wait running out on a running job: its id, exit 1",
    async () => {
      const { address, child } = await serveWs(["--db", ":memory:", "--bearer", "tok=alice"])
      try {
        const wrong = await arcp([
          "send",
          "--url",
          address,
          "--token",
          "tok",
          "--tool",
          "ticker",
          "--args",
          "{\"count\":1.5}"
        ])
        assertOneSentence(
          wrong,
          "arcp: nack INVALID_ARGUMENT: arguments of ticker: `count` must be an integer (got 1.5)",
          1
        )
        assert.strictEqual(JSON.parse(wrong.stdout).type, "nack")

        const waited = await arcp([
          "send",
          "--url",
          address,
          "--token",
          "tok",
          "--tool",
          "sleep",
          "--args",
          "{\"ms\":20000}",
          "--wait",
          "1500"
        ])
        const accepted = waited.stdout.split("\n").map((l) => l.trim() === "" ? undefined : JSON.parse(l)).find((m) =>
          m?.type === "job.accepted"
        )
        assert.isDefined(accepted, waited.stdout)
        assertOneSentence(
          waited,
          `arcp: job ${accepted.job_id} is still running after --wait 1500 ms; it carries on, detached, on the runtime`,
          1
        )
      } finally {
        child.kill("SIGKILL")
      }
    },
    90_000
  )
})

describe("arcp --help", () => {
  it(
    "writes no colour codes into a pipe; send's --url and --wait have a description and default; no line said twice",
    async () => {
      for (const args of [["--help"], ["serve", "--help"], ["send", "--help"]]) {
        const run = await arcp(args)
        assert.strictEqual(run.code, 0)
        assert.notMatch(run.stdout, /\u001b\[/, `${args.join(" ")} has ANSI codes`)
      }
      const send = (await arcp(["send", "--help"])).stdout
      const block = (flag: string) => send.split(/\n(?=\S)/).find((b) => b.startsWith(`--${flag} `)) ?? ""
      assert.include(block("url"), "(default ws://127.0.0.1:7777) [ARCP_URL]")
      assert.include(block("url"), "unix:///path (Unix socket)")
      assert.include(block("wait"), "(default 10000)")
      const serve = (await arcp(["serve", "--help"])).stdout
      for (const flagBlock of serve.split(/\n(?=\S)/)) {
        const lines = flagBlock.split("\n").filter((l) => l.trim() !== "")
        assert.strictEqual(lines.length, new Set(lines).size, `a line repeated in:\n${flagBlock}`)
      }
    },
    60_000
  )
})
