// Extension messages (RFC §21), the Promise flavour: namespaced types work once both sides list them in
// `capabilities.extensions`. The runtime implements `arcpx.arcp.tools.v1` (sent raw here; `session.tools()`
// is its sugar); an unknown extension is refused UNIMPLEMENTED, or dropped when marked optional.
//
// Run it: node examples/15-extension.mjs   (the built package; `node --import tsx ...` for the sources)
import { AnyArguments, connect, createServer, tool } from "arcp/promise"

const echo = tool({ name: "echo", parameters: AnyArguments, handler: async (args) => args })
const server = await createServer({ port: 0, logLevel: "warning", auth: { bearer: new Map([["s3cret", "alice"]]) }, tools: [echo] })
const session = await connect(server.address, {
  credentials: { scheme: "bearer", token: "s3cret" },
  capabilities: { extensions: ["arcpx.arcp.tools.v1"] }
})
console.log(`negotiated extensions: ${session.capabilities.extensions.join(", ")}`)

const listed = await session.requestExtension("arcpx.arcp.tools.v1.list", {})
console.log(`${listed.type}: ${listed.payload.tools.map((t) => t.name).join(", ")}`)

await session.requestExtension("arcpx.acme.audit.v1.note", { text: "hi" }).catch((error) =>
  console.log(`arcpx.acme.audit.v1.note: ${error.code}`)
)
await session.sendExtension("arcpx.acme.audit.v1.note", { text: "hi" }, { optional: true })
console.log(`optional note sent; session alive, ping ${await session.ping().then(() => "ok")}`)

await session.close()
await server.close()
