// Human input and choice, with expiry (RFC §12), the Promise flavour: the tool asks for a value
// (`ctx.askHuman`, checked against a JSON Schema) and a choice (`ctx.askChoice`); the client answers with
// `session.respond` / `session.respondChoice`. Unanswered requests end at `expires_at` with their
// default (`responded_by: "default"`) or reject DEADLINE_EXCEEDED. (Needs `capabilities.human_input`.)
//
// Run it: node examples/07-human-input.mjs   (the built package; `node --import tsx ...` for the sources)
import { AnyArguments, connect, createServer, tool } from "arcp/promise"

const book = tool({
  name: "book",
  parameters: AnyArguments,
  handler: async (_args, ctx) => {
    const { city } = await ctx.askHuman({
      prompt: "Which city?",
      responseSchema: { type: "object", required: ["city"], properties: { city: { type: "string" } } },
      expiresInSeconds: 60
    })
    const hotel = await ctx.askChoice({
      prompt: `Which hotel in ${city}?`,
      options: [{ id: "harbour", label: "Harbour Inn" }, { id: "station", label: "Station Hotel" }]
    })
    // nobody answers these two: the first falls back to its default, the second expires
    const breakfast = await ctx.askChoice({ prompt: "Breakfast?", options: [{ id: "yes" }, { id: "no" }], default: "no", expiresInSeconds: 1 })
    const confirmed = await ctx.askHuman({ prompt: "Confirm the booking?", responseSchema: {}, expiresInSeconds: 1 }).then(
      () => true,
      (error) => {
        console.log(`tool: confirmation ${error.code}`)
        return false
      }
    )
    return { city, hotel, breakfast, confirmed }
  }
})

const server = await createServer({ port: 0, logLevel: "warning", auth: { bearer: new Map([["s3cret", "alice"]]) }, tools: [book] })
const session = await connect(server.address, {
  credentials: { scheme: "bearer", token: "s3cret" },
  capabilities: { human_input: true }
})

const job = await session.invoke("book", {})
for await (const event of job.events) {
  if (event.type === "human.input.request") {
    console.log(`asked: ${event.payload.prompt} (expires ${event.payload.expires_at})`)
    if (event.payload.prompt === "Which city?") await session.respond(event.id, { city: "Lyon" })
  } else if (event.type === "human.choice.request") {
    console.log(`choose: ${event.payload.prompt} [${event.payload.options.map((o) => o.id).join("|")}]`)
    if (event.payload.prompt.startsWith("Which hotel")) await session.respondChoice(event.id, "harbour")
  } else if (event.type === "human.choice.response" || event.type === "human.input.response") {
    console.log(`${event.type} by ${event.payload.responded_by}`)
  } else if (event.type === "human.input.cancelled") {
    console.log(`${event.type} ${event.payload.code}`)
  }
}
console.log(`result ${JSON.stringify(await job.result)}`)

await session.close()
await server.close()
