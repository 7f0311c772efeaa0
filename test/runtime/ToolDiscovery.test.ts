/** The tool discovery extension `arcpx.arcp.tools.v1` (docs/extensions/tools.md). */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import type * as Client from "../../src/client/Client.js"
import * as PromiseClient from "../../src/client/promise/Promise.js"
import type { ArcpError } from "../../src/protocol/Errors.js"
import { LIST_TYPE, LISTED_TYPE, TOOLS_EXTENSION } from "../../src/protocol/extensions/ToolDiscovery.js"
import * as Tools from "../../src/runtime/Tools.js"
import * as Memory from "../../src/transport/Memory.js"
import { expectNack, reader, sendRaw } from "../support/CoreServer.js"
import { dial, field, open, serverLayer, TOKEN } from "../support/Harness.js"

const typed = Tools.make({
  name: "typed",
  description: "Adds",
  parameters: Schema.Struct({ a: Schema.Number, b: Schema.Number }),
  result: Schema.Struct({ sum: Schema.Number }),
  handler: ({ a, b }) => Effect.succeed({ sum: a + b })
})
const given = PromiseClient.tool({
  name: "given",
  parameters: PromiseClient.AnyArguments,
  argumentsSchema: { type: "object", properties: { path: { type: "string" } } },
  resultSchema: { type: "string" },
  handler: async () => "ok"
})

const graded = (name: string, minimumTrust: "constrained" | "privileged") =>
  Tools.make({ name, minimumTrust, parameters: Schema.Struct({}), handler: () => Effect.succeed(name) })

const withServer = Effect.provide(
  serverLayer({
    transport: Memory.layer(),
    tools: [typed, given, graded("reader", "constrained"), graded("vault", "privileged")]
  })
)

/** A session opened by hand, offering `extensions`. */
const raw = (extensions: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const connection = yield* dial
    const read = yield* reader(connection)
    yield* sendRaw(connection, {
      id: "msg_open",
      type: "session.open",
      payload: {
        auth: { scheme: "bearer", token: TOKEN },
        client: { kind: "raw", version: "1" },
        capabilities: { extensions }
      }
    })
    const accepted = yield* read.next
    const sessionId = String(field(accepted, "session_id"))
    return {
      read,
      accepted,
      send: (fields: Record<string, unknown>) => sendRaw(connection, { session_id: sessionId, ...fields })
    }
  })

describe("tool discovery (arcpx.arcp.tools.v1)", () => {
  it.scoped("lists the tools the session may invoke with their argument schema from the Effect Schema, its result schema, cancellable and liveness", () =>
    Effect.gen(function*() {
      const session = yield* open()
      assert.include(session.capabilities.extensions ?? [], TOOLS_EXTENSION, "negotiated by default")
      const tools = yield* session.tools()
      assert.includeMembers(tools.map((t) => t.name), ["echo", "ticker", "sleep", "stubborn", "fail", "typed", "given"])
      const add = tools.find((t) => t.name === "typed")
      assert.strictEqual(add?.description, "Adds")
      assert.deepStrictEqual(add?.arguments_schema["required"], ["a", "b"])
      assert.deepStrictEqual(Object.keys(Object(add?.arguments_schema["properties"])), ["a", "b"])
      assert.deepStrictEqual(add?.result_schema?.["required"], ["sum"])
      assert.strictEqual(add?.cancellable, true)
      assert.strictEqual(add?.liveness, "runtime")
      const promiseTool = tools.find((t) => t.name === "given")
      assert.deepStrictEqual(promiseTool?.arguments_schema, {
        type: "object",
        properties: { path: { type: "string" } }
      })
      assert.deepStrictEqual(promiseTool?.result_schema, { type: "string" })
      assert.deepStrictEqual((yield* session.tools({ prefix: "st" })).map((t) => t.name), ["stream", "stubborn"])
      // §15.3: only what this (trusted) session may invoke, with the level each needs
      assert.strictEqual(tools.find((t) => t.name === "reader")?.trust_level, "constrained")
      assert.isUndefined(tools.find((t) => t.name === "vault"), "a privileged tool is not listed to a trusted session")
    }).pipe(withServer))

  it.scoped("an unknown tool's NOT_FOUND names the way to list the tools", () =>
    Effect.gen(function*() {
      const session = yield* open()
      const error = (yield* Effect.flip(session.invoke("nope"))) as ArcpError
      assert.strictEqual(error.code, "NOT_FOUND")
      assert.include(error.message, LIST_TYPE)
    }).pipe(withServer))

  it.scoped("R21.2-2 R21.3-2 the raw exchange: listed is correlated; bad payloads, unknown sub-types and un-negotiated use are nacked", () =>
    Effect.gen(function*() {
      const { read, send } = yield* raw([TOOLS_EXTENSION])
      yield* send({ id: "msg_list", type: LIST_TYPE, payload: { prefix: "echo" } })
      const listed = yield* read.next
      assert.strictEqual(listed.type, LISTED_TYPE)
      assert.strictEqual(listed.correlation_id, "msg_list")
      assert.deepStrictEqual((field(listed, "tools") as Array<{ name: string }>).map((t) => t.name), ["echo"])
      yield* send({ id: "msg_bad", type: LIST_TYPE, payload: { prefix: 5 } })
      yield* expectNack(read, "INVALID_ARGUMENT", "msg_bad")
      yield* send({ id: "msg_sub", type: `${TOOLS_EXTENSION}.describe`, payload: {} })
      yield* expectNack(read, "UNIMPLEMENTED", "msg_sub")
      // the session carries on
      yield* send({ id: "msg_again", type: LIST_TYPE, payload: {} })
      assert.strictEqual((yield* read.next).type, LISTED_TYPE)

      const other = yield* raw([])
      assert.deepStrictEqual(
        field(other.accepted, "capabilities") &&
          Reflect.get(Object(field(other.accepted, "capabilities")), "extensions"),
        []
      )
      yield* other.send({ id: "msg_list_other", type: LIST_TYPE, payload: {} })
      yield* expectNack(other.read, "UNIMPLEMENTED", "msg_list_other")
    }).pipe(withServer))

  it.scoped("session.tools() fails UNIMPLEMENTED when the session did not negotiate the extension", () =>
    Effect.gen(function*() {
      const session: Client.Session = yield* open({ capabilities: { extensions: [] } })
      const error = (yield* Effect.flip(session.tools())) as ArcpError
      assert.strictEqual(error.code, "UNIMPLEMENTED")
    }).pipe(withServer))
})
