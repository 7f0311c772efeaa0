/** `arcp serve`'s transport flags turned into transport options, and the sentence for each mistake. */
import { NodeContext } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, Option } from "effect"
import { PassThrough } from "node:stream"
import * as ServeTransports from "../../../src/cli/serve/ServeTransports.js"
import { hasOpenssl, selfSigned } from "../../support/Sockets.js"

const flags: ServeTransports.Flags = {
  transport: "ws",
  host: "127.0.0.1",
  port: 7777,
  socket: Option.none(),
  socketMode: "600",
  http2Port: 7778,
  tlsCert: Option.none(),
  tlsKey: Option.none()
}
const stdio = { input: new PassThrough(), output: new PassThrough() }
const resolve = (overrides: Partial<ServeTransports.Flags>) =>
  ServeTransports.resolve({ ...flags, ...overrides }, stdio).pipe(Effect.provide(NodeContext.layer), Effect.either)
const refusal = (overrides: Partial<ServeTransports.Flags>) =>
  Effect.map(resolve(overrides), (r) => (Either.isLeft(r) ? r.left.message : "accepted"))

describe("arcp serve --transport flags", () => {
  it.effect("several kinds, in order, without repeats; unix takes --socket and an octal --socket-mode", () =>
    Effect.gen(function*() {
      const result = yield* resolve({
        transport: "ws, unix,ws,http2",
        socket: Option.some("/tmp/a.sock"),
        socketMode: "660"
      })
      assert.deepStrictEqual(Either.getOrThrow(result), [
        { kind: "ws", host: "127.0.0.1", port: 7777 },
        { kind: "unix", path: "/tmp/a.sock", mode: 0o660 },
        { kind: "http2", host: "127.0.0.1", port: 7778, tls: undefined }
      ])
    }))

  it.effect("each mistake is one sentence saying what to do", () =>
    Effect.gen(function*() {
      assert.match(yield* refusal({ transport: "unix" }), /--transport unix needs --socket PATH/)
      assert.match(yield* refusal({ transport: "unix", socket: Option.some("a.sock"), socketMode: "rw" }), /octal/)
      assert.match(
        yield* refusal({ transport: "ws,carrier-pigeon" }),
        /unknown "carrier-pigeon"; use ws, stdio, unix or http2/
      )
      assert.match(yield* refusal({ transport: "stdio,ws" }), /cannot be combined/)
      assert.match(yield* refusal({ transport: "http2", host: "0.0.0.0" }), /needs --tls-cert and --tls-key/)
      assert.match(yield* refusal({ transport: "http2", tlsCert: Option.some("c.pem") }), /go together/)
      assert.match(
        yield* refusal({ transport: "http2", tlsCert: Option.some("/nope/c.pem"), tlsKey: Option.some("/nope/k.pem") }),
        /cannot read --tls-cert \/nope\/c.pem/
      )
    }))

  it.effect.runIf(hasOpenssl)(
    "TLS files are read for ws (wss://) and http2 (on any host), and refused for a transport they cannot secure",
    () =>
      Effect.gen(function*() {
        const tls = selfSigned()
        const withTls = { tlsCert: Option.some(tls.certFile), tlsKey: Option.some(tls.keyFile) }
        const served = Either.getOrThrow(yield* resolve({ transport: "ws,http2", host: "0.0.0.0", ...withTls }))
        assert.deepStrictEqual(served.map((t) => t.kind), ["ws", "http2"])
        for (const t of served) {
          const secured = "tls" in t ? t.tls : undefined
          assert.deepStrictEqual([secured?.cert, secured?.key, secured?.clientCertificate], [
            tls.cert,
            tls.key,
            undefined
          ])
          assert.isDefined(secured?.reloads, "re-read on SIGHUP")
        }
        assert.match(
          yield* refusal({ transport: "unix", socket: Option.some("/tmp/x.sock"), ...withTls }),
          /secure --transport ws \(wss:\/\/\) and http2 only/
        )
      })
  )

  it.effect.runIf(hasOpenssl)(
    "client certificates: --tls-ca and --tls-client-cert, each mistake one sentence",
    () =>
      Effect.gen(function*() {
        const tls = selfSigned()
        const withTls = { tlsCert: Option.some(tls.certFile), tlsKey: Option.some(tls.keyFile) }
        const asked = Either.getOrThrow(
          yield* resolve({
            ...withTls,
            tlsCa: Option.some(tls.certFile),
            tlsClientCert: Option.some("request")
          })
        )
        const secured = asked[0] !== undefined && "tls" in asked[0] ? asked[0].tls : undefined
        assert.deepStrictEqual([secured?.ca, secured?.clientCertificate], [tls.cert, "request"])
        assert.match(
          yield* refusal({ ...withTls, tlsClientCert: Option.some("require") }),
          /--tls-client-cert needs --tls-ca/
        )
        assert.match(yield* refusal({ tlsClientCert: Option.some("require") }), /need --tls-cert and --tls-key/)
        assert.match(
          yield* refusal({ ...withTls, tlsCa: Option.some("/nope/ca.pem"), tlsClientCert: Option.some("require") }),
          /cannot read --tls-ca \/nope\/ca.pem/
        )
      })
  )
})
