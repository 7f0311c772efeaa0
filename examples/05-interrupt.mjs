// Interrupt a job for guidance (RFC §10.5), the Promise flavour: `job.interrupt(prompt)` blocks the job
// at its next pause point (any ctx call, or `ctx.pausePoint()`) and the runtime asks the human with a
// `human.input.request`; `session.respond(id, { guidance })` resumes it. (Needs `capabilities.human_input`.)
//
// Run it: node examples/05-interrupt.mjs   (the built package; `node --import tsx ...` for the sources)
import { AnyArguments, connect, createServer, tool } from "arcp/promise"

const draft = tool({
  name: "draft",
  parameters: AnyArguments,
  handler: async ({ paragraphs }, ctx) => {
    let tone = "formal"
    for (let written = 1; written <= paragraphs; written++) {
      tone = (await ctx.pausePoint()) ?? tone // waits while an interrupt is pending
      await new Promise((resolve) => setTimeout(resolve, 50))
      await ctx.progress({ current: written, total: paragraphs, message: `${tone} paragraph` })
    }
    return { paragraphs, tone }
  }
})

const server = await createServer({ port: 0, logLevel: "warning", auth: { bearer: new Map([["s3cret", "alice"]]) }, tools: [draft] })
const session = await connect(server.address, {
  credentials: { scheme: "bearer", token: "s3cret" },
  capabilities: { human_input: true }
})

const job = await session.invoke("draft", { paragraphs: 4 })
let interrupted = false
for await (const event of job.events) {
  if (event.type === "job.progress") {
    console.log(`progress ${event.payload.current}/${event.payload.total} ${event.payload.message}`)
    if (!interrupted) {
      interrupted = true
      await job.interrupt("Too stiff? Tell me the tone to use.")
      console.log("interrupted")
    }
  } else if (event.type === "human.input.request") {
    console.log(`asked: ${event.payload.prompt}`)
    await session.respond(event.id, { guidance: "casual" })
  }
}
console.log(`result ${JSON.stringify(await job.result)}`)

await session.close()
await server.close()
