// Artifacts (RFC §16) with the Promise API: a client uploads 3 MB as sidecar frames over WebSocket,
// a tool stores its own output as an artifact and returns its ref, and the client streams both back.
// Run it with `node --import tsx examples/10-artifacts.mjs` (or against dist after `npm run build`).
import { createHash } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Schema } from "effect"
import { connect, createServer, tool } from "arcp/promise"

const report = tool({
  name: "report",
  parameters: Schema.Struct({ lines: Schema.Number }),
  handler: async ({ lines }, ctx) => {
    const text = Array.from({ length: lines }, (_, i) => `line ${i + 1}\n`).join("")
    // the tool's output goes to the artifact store; the result carries only its ref
    return await ctx.putArtifact(new TextEncoder().encode(text), "text/plain")
  }
})

const dir = mkdtempSync(join(tmpdir(), "arcp-example-"))
const server = await createServer({
  port: 0,
  logLevel: "warning",
  db: join(dir, "arcp.db"), // artifact bytes go to arcp.artifacts/ beside it, records into the same SQLite file
  auth: { bearer: new Map([["secret", "alice"]]) },
  tools: [report]
})
const session = await connect(server.address, { credentials: { scheme: "bearer", token: "secret" } })
console.log(`binary encodings ${session.capabilities.binary_encoding.join(",")}`)

// any async iterable (or ReadableStream, or Uint8Array) is streamed up in sidecar frames
async function* upload() {
  for (let i = 0; i < 12; i++) yield new Uint8Array(256 * 1024).fill(i)
}
const ref = await session.putArtifact(upload(), { mediaType: "application/octet-stream" })
console.log(`put ${ref.size} bytes as ${ref.artifact_id}`)

const hash = createHash("sha256")
for await (const chunk of session.fetchArtifact(ref)) hash.update(chunk)
console.log(`fetched sha256 matches ${hash.digest("hex") === ref.sha256}`)

const job = await session.invoke("report", { lines: 1000 })
const made = await job.result
const text = new TextDecoder().decode(await session.fetchArtifactBytes(made))
console.log(`tool artifact ${made.media_type} ${made.size} bytes, last line "${text.trim().split("\n").at(-1)}"`)

await session.close()
await server.close()
rmSync(dir, { recursive: true, force: true })
