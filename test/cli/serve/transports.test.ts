/** `arcp serve --transport ws,unix,http2` and `arcp send --url unix://... / https://...` as real processes. */
import { assert, describe, it } from "@effect/vitest"
import { existsSync, lstatSync } from "node:fs"
import { runArcp, serveAddresses, stopChild } from "../../support/Child.js"
import { hasOpenssl, selfSigned, socketPath } from "../../support/Sockets.js"

const run = runArcp

const serve = serveAddresses

const stop = stopChild

describe("arcp serve over several transports", () => {
  it.runIf(hasOpenssl)(
    "R4.1-3 R4.1-5 wss, a Unix socket and HTTP/2 over TLS at once; arcp send reaches each; SIGTERM removes the socket",
    async () => {
      const path = socketPath()
      const tls = selfSigned()
      const { addresses, child } = await serve([
        "--transport",
        "ws,unix,http2",
        "--socket",
        path,
        "--port",
        "0",
        "--http2-port",
        "0",
        "--tls-cert",
        tls.certFile,
        "--tls-key",
        tls.keyFile,
        "--bearer",
        "tok=alice"
      ])
      try {
        assert.deepStrictEqual(addresses.map((a) => a.split(":")[0]), ["wss", "unix", "https"])
        assert.strictEqual(lstatSync(path).mode & 0o777, 0o600, "owner-only by default")
        const sent = await Promise.all(
          addresses.map((url) =>
            run(["send", "--url", url, "--token", "tok", "--tool", "echo", "--args", "{\"a\":1}"], {
              NODE_EXTRA_CA_CERTS: tls.certFile
            })
          )
        )
        for (const [i, result] of sent.entries()) {
          assert.strictEqual(result.code, 0, `${addresses[i]}: ${result.stderr}`)
          const last = JSON.parse(result.stdout.trim().split("\n").at(-1) ?? "{}")
          assert.deepStrictEqual([last.type, last.payload], ["tool.result", { value: { a: 1 } }])
        }
      } finally {
        assert.strictEqual(await stop(child), 0)
      }
      assert.isFalse(existsSync(path), "the socket file is removed on shutdown")
    },
    90_000
  )

  it("refuses a unix transport without --socket with one sentence and exit 1", async () => {
    const result = await run(["serve", "--transport", "unix"])
    assert.strictEqual(result.code, 1)
    // what a person sees, wherever the CLI writes it
    assert.include(result.stdout + result.stderr, "--transport unix needs --socket PATH")
  }, 60_000)
})
