/** Several transports at once (`--transport ws,unix,http2`): one runtime, one session registry, one event log. */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Logger, LogLevel } from "effect"
import { join } from "node:path"
import * as DemoTools from "../../../src/cli/demoTools.js"
import * as ArcpClient from "../../../src/client/ArcpClient.js"
import * as Server from "../../../src/runtime/Server.js"
import { Sessions } from "../../../src/runtime/Sessions.js"
import * as Combined from "../../../src/transport/Combined.js"
import { Acceptor } from "../../../src/transport/Transport.js"
import { scratchDir, socketPath } from "../../support/Sockets.js"

const server = () =>
  Server.layer({
    db: join(scratchDir, `several-${process.pid}-${Math.random().toString(36).slice(2)}.db`),
    tools: DemoTools.all,
    auth: { bearer: new Map([["tok", "alice"]]) },
    transport: [
      { kind: "ws", port: 0 },
      { kind: "unix", path: socketPath() },
      { kind: "http2", port: 0 }
    ]
  }).pipe(Layer.provide(Logger.minimumLogLevel(LogLevel.None)))

const bearer = { credentials: { scheme: "bearer", token: "tok" } } as const

describe("R4.1-3 R4.1-5 several transports serve one runtime", () => {
  it.scopedLive(
    "sessions over ws, unix and http2 share the session registry and the event log (an idempotency key claimed over one is honoured over another)",
    () =>
      Effect.gen(function*() {
        const addresses = Combined.addressesOf((yield* Acceptor).address)
        assert.deepStrictEqual(addresses.map((a) => a.split(":")[0]), ["ws", "unix", "http"])
        const [ws, unix, h2] = yield* Effect.forEach(addresses, (address) => ArcpClient.connect(address, bearer))
        assert.isDefined(ws)
        assert.isDefined(unix)
        assert.isDefined(h2)
        if (ws === undefined || unix === undefined || h2 === undefined) return
        const ids = (yield* Effect.flatMap(Sessions, (s) => s.list)).map((s) => s.id)
        assert.sameMembers(ids, [ws.id, unix.id, h2.id], "one registry holds the sessions of every transport")

        const first = yield* unix.invoke("echo", { via: "unix" }, { idempotency_key: "same-key" })
        assert.deepStrictEqual(yield* first.outcome, { via: "unix" })
        const again = yield* h2.invoke("echo", { via: "unix" }, { idempotency_key: "same-key" })
        assert.strictEqual(again.jobId, first.jobId, "the key claimed over unix is found over http2: one log")
        yield* ws.ping
      }).pipe(Effect.provide(server())),
    30_000
  )
})
