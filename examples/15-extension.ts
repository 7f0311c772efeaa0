/**
 * Extension messages (RFC §21): types outside the core live in a namespace (`arcpx.<vendor>.<name>.v<n>`
 * or reverse-DNS) and work only once both sides list them in `capabilities.extensions`. This runtime
 * implements `arcpx.arcp.tools.v1` (tool discovery; `session.tools()` is its sugar): here it is sent raw.
 * An extension the runtime does not know is refused UNIMPLEMENTED — or dropped silently when the sender
 * marked it optional — and the session carries on. Envelope fields may carry namespaced extensions too.
 *
 * Run it: node --import tsx examples/15-extension.ts
 */
import { ArcpClient, Server, Tools, Transport } from "arcp"
import { Console, Effect, Logger, LogLevel, Schema } from "effect"

const echo = Tools.make({ name: "echo", parameters: Schema.Struct({ text: Schema.String }), handler: Effect.succeed })

const Runtime = Server.layer({
  auth: { bearer: new Map([["s3cret", "alice"]]) },
  transport: { kind: "ws", port: 0 },
  db: ":memory:",
  tools: [echo]
})

const program = Effect.gen(function*() {
  const { address } = yield* Transport.Acceptor
  const session = yield* ArcpClient.connect(address, {
    credentials: { scheme: "bearer", token: "s3cret" },
    capabilities: { extensions: ["arcpx.arcp.tools.v1"] }
  })
  yield* Console.log(`negotiated extensions: ${session.capabilities.extensions?.join(", ")}`)

  // 1. a negotiated extension: request and its correlated reply
  const listed = yield* session.requestExtension("arcpx.arcp.tools.v1.list", {})
  const tools = Schema.decodeUnknownSync(
    Schema.Struct({ tools: Schema.Array(Schema.Struct({ name: Schema.String })) })
  )(
    listed.payload
  )
  yield* Console.log(`${listed.type}: ${tools.tools.map((t) => t.name).join(", ")}`)

  // 2. an extension the runtime never negotiated: nack UNIMPLEMENTED...
  const refused = yield* Effect.flip(session.requestExtension("arcpx.acme.audit.v1.note", { text: "hi" }))
  yield* Console.log(`arcpx.acme.audit.v1.note: ${"code" in refused ? refused.code : refused._tag}`)
  // ...unless marked optional: then it is dropped without an answer
  yield* session.sendExtension("arcpx.acme.audit.v1.note", { text: "hi" }, { optional: true })
  yield* Console.log(`optional note sent; session alive, ping ${yield* Effect.as(session.ping, "ok")}`)

  // 3. an extension field on a core envelope: namespaced names pass, bare x- names are refused
  yield* session.request("ping", {}, { extensions: { "arcpx.acme.tenant.v1": { region: "eu-1" } } })
  yield* Console.log("ping with arcpx.acme.tenant.v1 field: ok")
  const bare = yield* Effect.flip(session.request("ping", {}, { extensions: { "x-tenant": "eu-1" } }))
  yield* Console.log(`ping with x-tenant field: ${"code" in bare ? bare.code : bare._tag}`)
})

Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(Runtime), Logger.withMinimumLogLevel(LogLevel.Warning)))
