/**
 * Interrupt a job for guidance (RFC §10.5): the client sends `interrupt`; the job is `blocked` at its
 * next pause point and the runtime asks the human with a `human.input.request`; the answer's
 * `guidance` resumes the job, which reads it from `ctx.pausePoint`. (Needs `capabilities.human_input`.)
 *
 * Run it: node --import tsx examples/05-interrupt.ts
 */
import { ArcpClient, Server, Tools, Transport } from "arcp"
import { Console, Effect, Logger, LogLevel, Option, Schema, Stream } from "effect"

const draft = Tools.make({
  name: "draft",
  parameters: Schema.Struct({ paragraphs: Schema.Int }),
  handler: ({ paragraphs }, ctx) =>
    Effect.gen(function*() {
      let tone = "formal"
      for (let written = 1; written <= paragraphs; written++) {
        // waits here while an interrupt is pending; then returns the latest guidance
        const guidance = yield* ctx.pausePoint
        if (Option.isSome(guidance)) tone = guidance.value
        yield* Effect.sleep("50 millis")
        yield* ctx.progress({ current: written, total: paragraphs, message: `${tone} paragraph` })
      }
      return { paragraphs, tone }
    })
})

const Runtime = Server.layer({
  auth: { bearer: new Map([["s3cret", "alice"]]) },
  transport: { kind: "ws", port: 0 },
  db: ":memory:",
  tools: [draft]
})

const program = Effect.gen(function*() {
  const { address } = yield* Transport.Acceptor
  const session = yield* ArcpClient.connect(address, {
    credentials: { scheme: "bearer", token: "s3cret" },
    capabilities: { human_input: true }
  })
  const job = yield* session.invoke("draft", { paragraphs: 4 })
  let interrupted = false
  yield* Stream.runForEach(job.events, (event) =>
    Effect.gen(function*() {
      if (event.type === "job.progress") {
        yield* Console.log(`progress ${event.payload.current}/${event.payload.total} ${event.payload.message}`)
        if (!interrupted) {
          interrupted = true
          yield* job.interrupt("Too stiff? Tell me the tone to use.")
          yield* Console.log("interrupted")
        }
      } else if (event.type === "human.input.request") {
        yield* Console.log(`asked: ${event.payload.prompt}`)
        yield* session.respond(event.id, { guidance: "casual" })
      }
    }))
  yield* Console.log(`result ${JSON.stringify(yield* job.outcome)}`)
})

Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(Runtime), Logger.withMinimumLogLevel(LogLevel.Warning)))
