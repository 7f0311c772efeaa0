/** The core suite (with the in-process session suite) over the in-memory transport. */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { make as makeEnvelope } from "../../../src/protocol/Envelope.js"
import * as Memory from "../../../src/transport/Memory.js"
import { coreServer, rawSession, type SuiteOptions } from "../../support/CoreServer.js"
import { dial } from "../../support/Dialer.js"
import { coreSuite } from "./CoreSuite.js"

const server = (options: SuiteOptions = {}) =>
  coreServer(Memory.layer({ maxFrameBytes: options.maxFrameBytes }), options)

describe("runtime core over memory", () => {
  coreSuite({ server, inProcess: server })

  it.scoped("R6.3-3 R4.4-1 a raw session keeps answering after many bad frames", () =>
    Effect.gen(function*() {
      const connection = yield* dial
      const { read, send } = yield* rawSession(connection)
      for (let i = 0; i < 20; i++) yield* connection.send(`{"broken": ${i}`)
      for (let i = 0; i < 20; i++) assert.strictEqual((yield* read.next).type, "nack")
      yield* send(makeEnvelope("ping", {}))
      assert.strictEqual((yield* read.next).type, "pong")
    }).pipe(Effect.provide(server())))
})
