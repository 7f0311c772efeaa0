/** `arcp/promise` over a Unix socket and HTTP/2: `connect("unix:///path")`, `connect("http://host:port")`. */
import { assert, describe, it } from "@effect/vitest"
import * as DemoTools from "../../../src/cli/demoTools.js"
import { connect, createServer } from "../../../src/client/promise/Promise.js"
import * as Combined from "../../../src/transport/Combined.js"
import { socketPath } from "../../support/Sockets.js"

describe("R4.1-3 R4.1-5 arcp/promise over Unix sockets and HTTP/2", () => {
  it("createServer serves unix and http2 at once; connect dials unix:// and http:// URLs", async () => {
    const path = socketPath()
    const server = await createServer({
      auth: { bearer: new Map([["t", "alice"]]) },
      tools: DemoTools.all,
      logLevel: "none",
      transport: [{ kind: "unix", path }, { kind: "http2", port: 0 }]
    })
    try {
      const [unixUrl = "", h2Url = ""] = Combined.addressesOf(server.address)
      assert.strictEqual(unixUrl, `unix://${path}`)
      assert.match(h2Url, /^http:\/\/127\.0\.0\.1:\d+$/)
      for (const url of [unixUrl, h2Url]) {
        const session = await connect(url, { credentials: { scheme: "bearer", token: "t" } })
        assert.isAtLeast(await session.ping(), 0)
        const job = await session.invoke("echo", { via: url })
        assert.deepStrictEqual(await job.result, { via: url })
        await session.close()
      }
      const refused = await connect("ftp://nowhere", { credentials: { scheme: "bearer", token: "t" } }).then(
        () => "connected",
        (e: unknown) => String(Reflect.get(Object(e), "reason"))
      )
      assert.strictEqual(refused, "Unsupported", "an unknown URL scheme is a clear TransportError")
    } finally {
      await server.close()
    }
  }, 30_000)
})
