/** The HTTP/2 transport's own promises: the session path, TLS with a throwaway certificate, base64 binary (R22-3). */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, Stream } from "effect"
import * as http2 from "node:http2"
import * as net from "node:net"
import * as ArcpClient from "../../src/client/ArcpClient.js"
import * as Tools from "../../src/runtime/Tools.js"
import * as Http2 from "../../src/transport/Http2.js"
import { Acceptor } from "../../src/transport/Transport.js"
import { serverLayer, TOKEN } from "../support/Harness.js"
import { hasOpenssl, selfSigned } from "../support/Sockets.js"

const bearer = { credentials: { scheme: "bearer", token: TOKEN } } as const

/** Writes two binary chunks on a binary stream, then returns. */
const bytes = Tools.make({
  name: "bytes",
  parameters: Tools.AnyArguments,
  handler: (_, ctx) =>
    Effect.gen(function*() {
      const writer = yield* ctx.stream({ kind: "binary" })
      yield* writer.write(new Uint8Array([0, 1, 2, 255]))
      yield* writer.write(new TextEncoder().encode("hi"))
      yield* writer.close()
      return "sent"
    })
})

/** What the server answers a plain request on `path` with `method`: its :status. */
const statusOf = (address: string, method: string, path: string) =>
  Effect.async<number | undefined>((resume) => {
    const session = http2.connect(address)
    const request = session.request({ ":method": method, ":path": path })
    request.once("response", (headers) => {
      session.destroy()
      resume(Effect.succeed(Number(headers[":status"])))
    })
    request.once("error", () => resume(Effect.succeed(undefined)))
    request.end()
  })

describe("R4.1-3 HTTP/2 transport", () => {
  it.scopedLive("R22-3 binary stream chunks cross an HTTP/2 stream as base64 in the envelope; the stream is text-only", () =>
    Effect.gen(function*() {
      const { address } = yield* Acceptor
      assert.match(address, /^http:\/\/127\.0\.0\.1:\d+$/)
      const connection = yield* Http2.connect(address)
      assert.isFalse(connection.binary)
      const refused = yield* Effect.either(connection.send(new Uint8Array([1])))
      assert.isTrue(Either.isLeft(refused) && refused.left.reason === "Unsupported")
      const session = yield* ArcpClient.connect(connection, bearer)
      assert.deepStrictEqual(session.capabilities.binary_encoding, ["base64"])
      const job = yield* session.invoke("bytes", {})
      const chunks = yield* job.events.pipe(
        Stream.filter((m) => m.type === "stream.chunk"),
        Stream.map((m) => m.payload),
        Stream.runCollect
      )
      assert.deepStrictEqual([...chunks].map((p) => [Reflect.get(p, "data"), Reflect.get(p, "encoding")]), [
        ["AAEC/w==", "base64"],
        ["aGk=", "base64"]
      ])
      assert.strictEqual(yield* job.outcome, "sent")
    }).pipe(Effect.provide(serverLayer({ transport: Http2.layer({ port: 0 }), tools: [bytes] }))))

  it.scopedLive("only POST on /arcp opens a session stream: other paths are 404, other methods 405", () =>
    Effect.gen(function*() {
      const { address } = yield* Acceptor
      assert.strictEqual(yield* statusOf(address, "GET", "/arcp"), 405)
      assert.strictEqual(yield* statusOf(address, "POST", "/elsewhere"), 404)
      const wrongPath = yield* Effect.flip(Http2.connect(`${address}/elsewhere`))
      assert.match(wrongPath.message, /HTTP 404/)
      // the URL's own path is used when it has one; the default is /arcp
      const session = yield* ArcpClient.connect(`${address}${Http2.DEFAULT_PATH}`, bearer)
      yield* session.ping
    }).pipe(Effect.provide(serverLayer({ transport: Http2.layer({ port: 0 }) }))))

  it.scopedLive("many sessions at once, each on its own stream", () =>
    Effect.gen(function*() {
      const { address } = yield* Acceptor
      const ids = yield* Effect.forEach(Array.from({ length: 8 }), () =>
        Effect.gen(function*() {
          const session = yield* ArcpClient.connect(address, bearer)
          const job = yield* session.invoke("echo", { n: 1 })
          assert.deepStrictEqual(yield* job.outcome, { n: 1 })
          return session.id
        }), { concurrency: "unbounded" })
      assert.strictEqual(new Set(ids).size, 8)
    }).pipe(Effect.provide(serverLayer({ transport: Http2.layer({ port: 0 }) }))))

  it.scopedLive("a peer that accepts TCP but never speaks HTTP/2 fails the connect at the open timeout", () =>
    Effect.gen(function*() {
      const silent = yield* Effect.acquireRelease(
        Effect.async<net.Server>((resume) => {
          const server = net.createServer(() => undefined)
          server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
        }),
        (server) => Effect.sync(() => server.close())
      )
      const address = silent.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      const failed = yield* Effect.flip(Http2.connect(`http://127.0.0.1:${port}`, { openTimeout: "300 millis" }))
      assert.strictEqual(failed.reason, "Open")
      assert.match(failed.message, /no HTTP\/2 answer/)
    }))

  describe.runIf(hasOpenssl)("over TLS (needs the openssl binary to mint a throwaway certificate)", () => {
    const tls = hasOpenssl ? selfSigned() : { cert: "", key: "" }
    it.scopedLive(
      "a session over https:// with a self-signed certificate the client trusts; untrusted, it is refused",
      () =>
        Effect.gen(function*() {
          const { address } = yield* Acceptor
          assert.match(address, /^https:\/\//)
          const session = yield* ArcpClient.connect(Http2.connect(address, { ca: tls.cert }), bearer)
          const job = yield* session.invoke("echo", { over: "tls" })
          assert.deepStrictEqual(yield* job.outcome, { over: "tls" })
          const untrusted = yield* Effect.flip(Http2.connect(address))
          assert.strictEqual(untrusted.reason, "Open")
          assert.match(untrusted.message, /self.signed|certificate/i)
          // cleartext h2c against the TLS port does not get a session either
          const cleartext = yield* Effect.either(Http2.connect(address.replace("https:", "http:")))
          assert.isTrue(Either.isLeft(cleartext))
        }).pipe(Effect.provide(serverLayer({ transport: Http2.layer({ port: 0, tls }) }))),
      30_000
    )
  })
})
