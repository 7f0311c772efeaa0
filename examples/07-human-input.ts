/**
 * Human input and choice, with expiry (RFC §12): a tool asks the human for a value checked against a
 * JSON Schema (`human.input.request`) and to pick an option (`human.choice.request`); the job is
 * `blocked` until an answer comes. Each request has an `expires_at`: unanswered, it ends with its
 * `default` (`responded_by: "default"`) or, without one, fails DEADLINE_EXCEEDED (`human.input.cancelled`).
 * Requests go only to sessions that negotiated `capabilities.human_input`.
 *
 * Run it: node --import tsx examples/07-human-input.ts
 */
import { ArcpClient, Message, Server, Tools, Transport } from "arcp"
import { Console, Effect, Logger, LogLevel, Schema, Stream } from "effect"

const book = Tools.make({
  name: "book",
  parameters: Schema.Struct({}),
  handler: (_args, ctx) =>
    Effect.gen(function*() {
      const { city } = yield* ctx.askHuman({
        prompt: "Which city?",
        responseSchema: { type: "object", required: ["city"], properties: { city: { type: "string" } } },
        expiresInSeconds: 60
      }).pipe(Effect.flatMap(Schema.decodeUnknown(Schema.Struct({ city: Schema.String }))), Effect.orDie)
      const hotel = yield* ctx.askChoice({
        prompt: `Which hotel in ${city}?`,
        options: [{ id: "harbour", label: "Harbour Inn" }, { id: "station", label: "Station Hotel" }]
      })
      // nobody answers these two: the first falls back to its default, the second expires
      const breakfast = yield* ctx.askChoice({
        prompt: "Breakfast?",
        options: [{ id: "yes" }, { id: "no" }],
        default: "no",
        expiresInSeconds: 1
      })
      const confirmed = yield* ctx.askHuman({ prompt: "Confirm the booking?", responseSchema: {}, expiresInSeconds: 1 })
        .pipe(
          Effect.as(true),
          Effect.catchTag("ArcpError", (e) => Effect.as(Console.log(`tool: confirmation ${e.code}`), false))
        )
      return { city, hotel, breakfast, confirmed }
    })
})

const Runtime = Server.layer({
  auth: { bearer: new Map([["s3cret", "alice"]]) },
  transport: { kind: "ws", port: 0 },
  db: ":memory:",
  tools: [book]
})

const program = Effect.gen(function*() {
  const { address } = yield* Transport.Acceptor
  const session = yield* ArcpClient.connect(address, {
    credentials: { scheme: "bearer", token: "s3cret" },
    capabilities: { human_input: true }
  })
  const job = yield* session.invoke("book", {})
  yield* Stream.runForEach(Stream.filter(job.events, Message.isCore), (event) =>
    Effect.gen(function*() {
      if (event.type === "human.input.request") {
        yield* Console.log(`asked: ${event.payload.prompt} (expires ${event.payload.expires_at})`)
        if (event.payload.prompt === "Which city?") yield* session.respond(event.id, { city: "Lyon" })
      } else if (event.type === "human.choice.request") {
        const options = event.payload.options.map((o) => o.id).join("|")
        yield* Console.log(`choose: ${event.payload.prompt} [${options}]`)
        if (event.payload.prompt.startsWith("Which hotel")) yield* session.respondChoice(event.id, "harbour")
      } else if (event.type === "human.choice.response" || event.type === "human.input.response") {
        yield* Console.log(`${event.type} by ${event.payload.responded_by}`)
      } else if (event.type === "human.input.cancelled") {
        yield* Console.log(`${event.type} ${event.payload.code ?? ""}`)
      }
    }))
  yield* Console.log(`result ${JSON.stringify(yield* job.outcome)}`)
})

Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(Runtime), Logger.withMinimumLogLevel(LogLevel.Warning)))
