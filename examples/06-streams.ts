/**
 * Streams (RFC §11): a job opens streams beside its result — `text` (tokens as they are generated),
 * `thought` (the model's reasoning, which may be redacted) and `binary` (bytes with a content type; sent
 * as sidecar frames on a WebSocket that negotiated them, base64 otherwise; `chunkBytes` gives the bytes
 * either way). Each stream is `stream.open`, `stream.chunk`s in sequence, then `stream.close`.
 *
 * Run it: node --import tsx examples/06-streams.ts
 */
import { ArcpClient, Client, Message, Server, Tools, Transport } from "arcp"
import { Console, Effect, Logger, LogLevel, Schema, Stream } from "effect"

const answer = Tools.make({
  name: "answer",
  parameters: Schema.Struct({ question: Schema.String }),
  handler: (_args, ctx) =>
    Effect.gen(function*() {
      const thought = yield* ctx.stream({ kind: "thought" })
      yield* thought.write("The user wants a plot; ")
      yield* thought.write({ content: "internal notes", redacted: true }) // sent without its content
      yield* thought.close()

      const text = yield* ctx.stream({ kind: "text" })
      for (const token of ["Here ", "is ", "your ", "chart."]) yield* text.write(token)
      yield* text.close()

      const image = yield* ctx.stream({ kind: "binary", content_type: "image/png" })
      yield* image.write(new Uint8Array(1024).fill(137))
      yield* image.write(new Uint8Array(512).fill(80))
      yield* image.close()
      return { ok: true }
    })
})

const Runtime = Server.layer({
  auth: { bearer: new Map([["s3cret", "alice"]]) },
  transport: { kind: "ws", port: 0 },
  db: ":memory:",
  tools: [answer]
})

const program = Effect.gen(function*() {
  const { address } = yield* Transport.Acceptor
  const session = yield* ArcpClient.connect(address, { credentials: { scheme: "bearer", token: "s3cret" } })
  const job = yield* session.invoke("answer", { question: "plot my sales" })
  const kinds = new Map<string, string>() // stream_id → kind, from stream.open
  let text = ""
  yield* Stream.runForEach(Stream.filter(job.events, Message.isCore), (event) => {
    const kind = kinds.get(event.stream_id ?? "")
    switch (event.type) {
      case "stream.open":
        kinds.set(event.stream_id ?? "", event.payload.kind)
        return Console.log(
          `open ${event.payload.kind}${event.payload.content_type ? ` ${event.payload.content_type}` : ""}`
        )
      case "stream.chunk":
        if (kind === "text") text += event.payload.data ?? ""
        if (kind === "thought") {
          return Console.log(
            `thought ${event.payload.redacted === true ? "(redacted)" : JSON.stringify(event.payload.content)}`
          )
        }
        if (kind === "binary") return Console.log(`binary chunk ${Client.chunkBytes(event)?.length} bytes`)
        return Effect.void
      case "stream.close":
        return Console.log(`close ${kind} after ${event.payload.total_chunks} chunks`)
      default:
        return Effect.void
    }
  })
  yield* Console.log(`text ${JSON.stringify(text)}`)
  yield* Console.log(`result ${JSON.stringify(yield* job.outcome)}`)
})

Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(Runtime), Logger.withMinimumLogLevel(LogLevel.Warning)))
