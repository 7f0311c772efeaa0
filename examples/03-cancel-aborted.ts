/**
 * Cancel a job (RFC §10.4): a cooperative job stops when cancelled and ends CANCELLED; a job that
 * ignores the cancellation past the cancel's `deadline_ms` is ended by the runtime ABORTED (its work is
 * abandoned, its result never sent).
 *
 * Run it: node --import tsx examples/03-cancel-aborted.ts
 */
import { ArcpClient, Server, Tools, Transport } from "arcp"
import { Console, Effect, Logger, LogLevel, Schema, Stream } from "effect"

// Effect.sleep is interruptible: cancelling the job interrupts the handler's fiber
const crawl = Tools.make({
  name: "crawl",
  parameters: Schema.Struct({}),
  handler: () => Effect.as(Effect.sleep("1 minute"), { pages: 100 })
})

// a handler that cannot be interrupted (think of a blocking call into native code)
const legacy = Tools.make({
  name: "legacy",
  parameters: Schema.Struct({}),
  handler: () => Effect.as(Effect.uninterruptible(Effect.sleep("1 second")), { done: true })
})

const Runtime = Server.layer({
  auth: { bearer: new Map([["s3cret", "alice"]]) },
  transport: { kind: "ws", port: 0 },
  db: ":memory:",
  tools: [crawl, legacy]
})

const program = Effect.gen(function*() {
  const { address } = yield* Transport.Acceptor
  const session = yield* ArcpClient.connect(address, { credentials: { scheme: "bearer", token: "s3cret" } })

  for (const tool of ["crawl", "legacy"]) {
    const job = yield* session.invoke(tool, {})
    const started = yield* Stream.runHead(Stream.filter(job.events, (e) => e.type === "job.started"))
    if (started._tag === "None") return yield* Effect.dieMessage("the job never started")
    const answer = yield* job.cancel({ reason: "user pressed stop", deadline_ms: 200 })
    yield* Console.log(`${tool}: ${answer.type}`)
    const failure = yield* Effect.flip(job.outcome)
    yield* Console.log(`${tool}: ended ${"code" in failure ? failure.code : failure._tag}`)
  }
})

Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(Runtime), Logger.withMinimumLogLevel(LogLevel.Error)))
