// Streams (RFC §11), the Promise flavour: a job opens a `thought` stream (reasoning; a chunk may be
// redacted), a `text` stream (tokens) and a `binary` stream (bytes with a content type — sidecar frames
// on WebSocket, base64 elsewhere; `chunkBytes(event)` gives the bytes either way).
//
// Run it: node examples/06-streams.mjs   (the built package; `node --import tsx ...` for the sources)
import { AnyArguments, chunkBytes, connect, createServer, tool } from "arcp/promise"

const answer = tool({
  name: "answer",
  parameters: AnyArguments,
  handler: async (_args, ctx) => {
    const thought = await ctx.stream({ kind: "thought" })
    await thought.write("The user wants a plot; ")
    await thought.write({ content: "internal notes", redacted: true }) // sent without its content
    await thought.close()

    const text = await ctx.stream({ kind: "text" })
    for (const token of ["Here ", "is ", "your ", "chart."]) await text.write(token)
    await text.close()

    const image = await ctx.stream({ kind: "binary", content_type: "image/png" })
    await image.write(new Uint8Array(1024).fill(137))
    await image.write(new Uint8Array(512).fill(80))
    await image.close()
    return { ok: true }
  }
})

const server = await createServer({ port: 0, logLevel: "warning", auth: { bearer: new Map([["s3cret", "alice"]]) }, tools: [answer] })
const session = await connect(server.address, { credentials: { scheme: "bearer", token: "s3cret" } })

const job = await session.invoke("answer", { question: "plot my sales" })
const kinds = new Map() // stream_id → kind, from stream.open
let text = ""
for await (const event of job.events) {
  const kind = kinds.get(event.stream_id)
  if (event.type === "stream.open") {
    kinds.set(event.stream_id, event.payload.kind)
    console.log(`open ${event.payload.kind}${event.payload.content_type ? ` ${event.payload.content_type}` : ""}`)
  } else if (event.type === "stream.chunk") {
    if (kind === "text") text += event.payload.data
    if (kind === "thought") console.log(`thought ${event.payload.redacted ? "(redacted)" : JSON.stringify(event.payload.content)}`)
    if (kind === "binary") console.log(`binary chunk ${chunkBytes(event).length} bytes`)
  } else if (event.type === "stream.close") {
    console.log(`close ${kind} after ${event.payload.total_chunks} chunks`)
  }
}
console.log(`text ${JSON.stringify(text)}`)
console.log(`result ${JSON.stringify(await job.result)}`)

await session.close()
await server.close()
