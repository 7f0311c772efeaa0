/**
 * The TLS flags of the commands that dial a runtime, as real processes: `arcp send` and `arcp tools`
 * over wss:// to a spawned `arcp serve` asking for client certificates, the session using scheme mtls
 * because a client certificate and no token is given; and the files that cannot be used, each one
 * sentence. Needs the openssl binary (the throwaway PKI).
 */
import { assert, describe, it } from "@effect/vitest"
import { type ChildProcess, spawn } from "node:child_process"
import { join } from "node:path"
import { bin, type CliRun, root, runArcp } from "../../support/Child.js"
import { hasOpenssl, makePki } from "../../support/Pki.js"
import { scratchDir } from "../../support/Sockets.js"

/** The CLI with no ARCP_TOKEN of the environment: each test names its own credentials. */
const arcp = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  runArcp(args, { ARCP_TOKEN: "", ...env })

/** One line on stderr containing `text`, no stack frame or dumped cause, and the exit status. */
const assertOneSentence = (run: CliRun, text: string, code = 1) => {
  assert.strictEqual(run.code, code, run.stderr)
  const lines = run.stderr.split("\n").filter((l) => l.trim() !== "")
  assert.strictEqual(lines.length, 1, run.stderr)
  assert.include(lines[0], text)
  assert.notMatch(run.stderr, /\n\s+at |\{"_tag"|FiberFailure|unexpected/)
}

/** Starts `arcp serve`; resolves with its wss:// address once it serves. */
const serve = (args: ReadonlyArray<string>) =>
  new Promise<{ child: ChildProcess; address: string }>((resolve, reject) => {
    const child = spawn("node", [bin, "serve", "--db", ":memory:", "--port", "0", ...args], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"]
    })
    let out = ""
    const onData = (chunk: Buffer) => {
      out += chunk.toString()
      const match = /serving on (wss:\/\/\S+)/.exec(out)
      if (match?.[1] !== undefined) resolve({ child, address: match[1] })
    }
    child.stdout.on("data", onData)
    child.stderr.on("data", onData)
    child.once("exit", (code) => reject(new Error(`serve exited early with ${code}: ${out}`)))
  })

const stop = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => {
    child.once("exit", (code) => resolve(code))
    child.kill("SIGTERM")
  })

describe.runIf(hasOpenssl)("arcp send/tools with TLS flags (needs openssl)", () => {
  it(
    "R8.2-1 --tls-ca/--tls-cert/--tls-key: mtls over wss://; untrusted runtime and bad files are one sentence",
    async () => {
      const pki = makePki()
      const { address, child } = await serve([
        "--tls-cert",
        pki.server.certFile,
        "--tls-key",
        pki.server.keyFile,
        "--tls-ca",
        pki.ca.certFile,
        "--tls-client-cert",
        "request",
        "--mtls-principal",
        "san:email"
      ])
      const tls = ["--tls-ca", pki.ca.certFile, "--tls-cert", pki.alice.certFile, "--tls-key", pki.alice.keyFile]
      try {
        // a client certificate and no token: scheme mtls, the session named by the certificate
        const sent = await arcp(["send", "--url", address, ...tls, "--tool", "echo", "--args", `{"n":1}`])
        assert.strictEqual(sent.code, 0, sent.stderr)
        assert.include(sent.stdout, `"type":"tool.result"`)

        // the same from the environment
        const fromEnv = await arcp(["send", "--url", address], {
          ARCP_CLIENT_TLS_CA: pki.ca.certFile,
          ARCP_CLIENT_TLS_CERT: pki.alice.certFile,
          ARCP_CLIENT_TLS_KEY: pki.alice.keyFile
        })
        assert.strictEqual(fromEnv.code, 0, fromEnv.stderr)
        assert.include(fromEnv.stdout, `"type":"pong"`)

        const listed = await arcp(["tools", "--url", address, ...tls, "--json"])
        assert.strictEqual(listed.code, 0, listed.stderr)
        assert.include(listed.stdout.split("\n").map((l) => l === "" ? "" : String(JSON.parse(l).name)), "echo")

        // without the CA the runtime's certificate is not trusted
        assertOneSentence(
          await arcp(["send", "--url", address, "--tls-cert", pki.alice.certFile, "--tls-key", pki.alice.keyFile]),
          "is not trusted"
        )
        assertOneSentence(
          await arcp(["tools", "--url", address, "--tls-cert", pki.alice.certFile, "--tls-key", pki.alice.keyFile]),
          "pass its CA with --tls-ca"
        )
        // a certificate from a CA the runtime does not trust: refused by the runtime, one sentence
        assertOneSentence(
          await arcp([
            "send",
            "--url",
            address,
            "--tls-ca",
            pki.ca.certFile,
            "--tls-cert",
            pki.stranger.certFile,
            "--tls-key",
            pki.stranger.keyFile
          ]),
          "UNAUTHENTICATED"
        )
        // files that cannot be used, caught before dialling
        assertOneSentence(
          await arcp(["send", "--url", address, ...tls.slice(0, 4), "--tls-key", pki.server.keyFile]),
          "key values mismatch"
        )
        const missing = join(scratchDir, "no-such-ca.pem")
        assertOneSentence(
          await arcp(["send", "--url", address, ...tls.slice(2), "--tls-ca", missing]),
          `cannot read --tls-ca ${missing}`
        )
        assertOneSentence(
          await arcp(["send", "--url", address, ...tls.slice(2), "--tls-ca", pki.alice.keyFile]),
          "holds no PEM certificate"
        )
        assertOneSentence(
          await arcp(["tools", "--url", address, ...tls.slice(0, 4)]),
          "--tls-cert and --tls-key go together",
          2
        )
      } finally {
        assert.strictEqual(await stop(child), 0)
      }
    },
    120_000
  )
})
