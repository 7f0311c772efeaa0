/** The client's extension messages (§21): sent raw, routed, refused, or dropped when optional. */
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Stream } from "effect"
import * as ArcpClient from "../../src/client/ArcpClient.js"
import * as Memory from "../../src/transport/Memory.js"
import { coreServer } from "../support/CoreServer.js"
import { dial } from "../support/Dialer.js"

const connect = ArcpClient.connect(dial, {
  credentials: { scheme: "bearer", token: "good-token" },
  capabilities: { extensions: ["arcpx.arcp.tools.v1"] }
})

const codeOf = (e: { readonly _tag: string; readonly code?: string | undefined }) => e.code ?? e._tag

describe("client extension messages", () => {
  it.scoped("R21.3-2 requestExtension gets a negotiated extension's correlated reply", () =>
    Effect.gen(function*() {
      const session = yield* connect
      const listed = yield* session.requestExtension("arcpx.arcp.tools.v1.list", {})
      assert.strictEqual(listed.type, "arcpx.arcp.tools.v1.listed")
    }).pipe(Effect.provide(coreServer(Memory.layer()))))

  it.scoped("R21.3-2 an extension the session did not negotiate is nacked UNIMPLEMENTED; marked optional it is dropped", () =>
    Effect.gen(function*() {
      const session = yield* connect
      const refused = yield* Effect.flip(session.requestExtension("arcpx.acme.audit.v1.note", { text: "hi" }))
      assert.strictEqual(codeOf(refused), "UNIMPLEMENTED")
      const inbound = yield* session.messages
      const id = yield* session.sendExtension("arcpx.acme.audit.v1.note", { text: "hi" }, { optional: true })
      yield* session.ping
      // answers come in order: anything said about the optional message came before the pong
      const before = yield* Stream.runCollect(Stream.takeUntil(inbound, (m) => m.type === "pong"))
      assert.deepStrictEqual(Chunk.toArray(before).filter((m) => m.correlation_id === id), [])
    }).pipe(Effect.provide(coreServer(Memory.layer()))))

  it.scoped("core and unnamespaced types are refused INVALID_ARGUMENT before anything is sent", () =>
    Effect.gen(function*() {
      const session = yield* connect
      const core = yield* Effect.flip(session.sendExtension("ping", {}))
      const bare = yield* Effect.flip(session.requestExtension("frobnicate", {}))
      assert.deepStrictEqual([codeOf(core), codeOf(bare)], ["INVALID_ARGUMENT", "INVALID_ARGUMENT"])
    }).pipe(Effect.provide(coreServer(Memory.layer()))))
})
