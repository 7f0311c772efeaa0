/**
 * `arcp serve` with TLS as a real process: wss:// with client certificates asked for (mtls
 * sessions named by the certificate), oauth2 against a local authorization server, and the
 * certificate files re-read on SIGHUP without a restart. Needs the openssl binary.
 */
import { assert, describe, it } from "@effect/vitest"
import { type ChildProcess, spawn } from "node:child_process"
import { copyFileSync } from "node:fs"
import { join } from "node:path"
import { connect } from "../../../src/client/promise/Promise.js"
import * as AuthServer from "../../support/AuthServer.js"
import { bin, root } from "../../support/Child.js"
import { hasOpenssl, issue, makeCa, makePki } from "../../support/Pki.js"
import { scratchDir } from "../../support/Sockets.js"

/** Starts `arcp serve`; resolves once it serves, with its address and a wait for a line of its output. */
const serve = (args: ReadonlyArray<string>) =>
  new Promise<{ child: ChildProcess; address: string; waitFor: (text: string) => Promise<void> }>(
    (resolve, reject) => {
      const child = spawn("node", [bin, "serve", "--db", ":memory:", "--port", "0", ...args], {
        cwd: root,
        stdio: ["ignore", "pipe", "pipe"]
      })
      let out = ""
      const waiting: Array<{ text: string; done: () => void }> = []
      const onData = (chunk: Buffer) => {
        out += chunk.toString()
        for (const w of waiting.filter((w) => out.includes(w.text))) {
          waiting.splice(waiting.indexOf(w), 1)
          w.done()
        }
        const match = /serving on (wss:\/\/\S+)/.exec(out)
        if (match?.[1] !== undefined) {
          resolve({
            child,
            address: match[1],
            waitFor: (text) =>
              out.includes(text) ? Promise.resolve() : new Promise<void>((done) => waiting.push({ text, done }))
          })
        }
      }
      child.stdout.on("data", onData)
      child.stderr.on("data", onData)
      child.once("exit", (code) => reject(new Error(`serve exited early with ${code}: ${out}`)))
    }
  )

const stop = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => {
    child.once("exit", (code) => resolve(code))
    child.kill("SIGTERM")
  })

describe.runIf(hasOpenssl)("arcp serve over TLS (needs openssl)", () => {
  it("R8.2-1 R8.2-2 wss:// with mtls and oauth2; SIGHUP re-reads the certificate files", async () => {
    const pki = makePki()
    // the files the server is started with, overwritten later for the rotation
    const certFile = join(scratchDir, `rotating-${process.pid}.pem`)
    const keyFile = join(scratchDir, `rotating-${process.pid}.key`)
    copyFileSync(pki.server.certFile, certFile)
    copyFileSync(pki.server.keyFile, keyFile)
    const as = await AuthServer.start("arcp://runtime")
    const { address, child, waitFor } = await serve([
      "--tls-cert",
      certFile,
      "--tls-key",
      keyFile,
      "--tls-ca",
      pki.ca.certFile,
      "--tls-client-cert",
      "request",
      "--mtls-principal",
      "san:email",
      "--oauth2-jwks-url",
      as.jwksUrl,
      "--oauth2-issuer",
      AuthServer.ISSUER,
      "--oauth2-scope-trust",
      "arcp:admin=privileged"
    ])
    try {
      const mtls = await connect(address, {
        credentials: { scheme: "mtls" },
        tls: { ca: pki.ca.cert, cert: pki.alice.cert, key: pki.alice.key }
      })
      assert.match(mtls.id, /^sess_/)
      const echoed = await (await mtls.invoke("echo", { who: "alice@example.test" })).result
      assert.deepStrictEqual(echoed, { who: "alice@example.test" })
      await mtls.close()

      const token = await as.jwt({ sub: "ada", scope: "arcp:admin" })
      const oauth2 = await connect(address, { credentials: { scheme: "oauth2", token }, tls: { ca: pki.ca.cert } })
      assert.strictEqual(oauth2.trustLevel, "privileged")
      await oauth2.close()

      assert.include(
        await connect(address, { credentials: { scheme: "mtls" }, tls: { ca: pki.ca.cert } }).catch(String),
        "needs tls.cert and tls.key"
      )
      const refused = await connect(address, {
        credentials: { scheme: "mtls" },
        client: { kind: "test", version: "1", fingerprint: pki.alice.fingerprint },
        tls: { ca: pki.ca.cert }
      }).then(
        () => "accepted",
        (e: unknown) => (e instanceof Error ? e.message : String(e))
      )
      assert.include(refused, "presented none")

      // rotation: new files, SIGHUP, and a client trusting only the new CA gets in
      const next = makeCa("rotated CA")
      const rotated = issue(next, "localhost", ["DNS:localhost", "IP:127.0.0.1"], "serverAuth")
      copyFileSync(rotated.certFile, certFile)
      copyFileSync(rotated.keyFile, keyFile)
      child.kill("SIGHUP")
      await waitFor("TLS certificate reloaded")
      const after = await connect(address, {
        credentials: { scheme: "mtls" },
        tls: { ca: next.cert, cert: pki.alice.cert, key: pki.alice.key }
      })
      assert.match(after.id, /^sess_/)
      await after.close()
    } finally {
      assert.strictEqual(await stop(child), 0)
      await as.close()
    }
  }, 90_000)
})
