/** MCP servers as ARCP tools: the SDK fixture server (a real child process on stdio) driven over ARCP. */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Layer, Logger, LogLevel, Schedule } from "effect"
import { join } from "node:path"
import * as DemoTools from "../../src/cli/demoTools.js"
import * as Client from "../../src/client/Client.js"
import * as McpTools from "../../src/mcp/McpTools.js"
import type { McpServerSpec } from "../../src/mcp/Spec.js"
import type { ArcpError } from "../../src/protocol/Errors.js"
import * as Auth from "../../src/runtime/Auth.js"
import * as Runtime from "../../src/runtime/Runtime.js"
import * as MemoryArtifactStore from "../../src/store/MemoryArtifactStore.js"
import * as MemoryEventLog from "../../src/store/MemoryEventLog.js"
import * as Memory from "../../src/transport/Memory.js"
import { collectUntil, field, open, TOKEN } from "../support/Harness.js"

const fixture = join(import.meta.dirname, "..", "fixtures", "mcp", "server.mjs")
export const fixtureSpec = (name: string): McpServerSpec => ({ _tag: "Stdio", name, command: "node", args: [fixture] })

/** The runtime with the demo tools and `servers`, on memory; every log line is offered to `onLog`. */
const server = (
  servers: ReadonlyArray<McpServerSpec>,
  onLog: (line: string) => void = () => undefined,
  options: Partial<McpTools.Options> = {}
) =>
  Runtime.serve.pipe(
    Layer.provideMerge(Runtime.layer({})),
    Layer.provide(Layer.mergeAll(
      Auth.layer({ audience: "arcp://runtime", bearer: new Map([[TOKEN, "alice"]]) }),
      MemoryArtifactStore.layer,
      McpTools.registry({ tools: DemoTools.all, servers, ...options })
    )),
    Layer.provideMerge(MemoryEventLog.layer),
    Layer.provideMerge(Memory.layer()),
    Layer.provide(Logger.replace(Logger.defaultLogger, Logger.make(({ message }) => onLog(String(message))))),
    Layer.provide(Logger.minimumLogLevel(LogLevel.Info))
  )

const terminal = (m: { readonly type: string }) => Client.terminalTypes.has(m.type)

describe("MCP servers as ARCP tools", () => {
  it.scopedLive(
    "R20-1 discovery lists NAME.tool with the MCP input schema; calls give results, progress and errors",
    () =>
      Effect.gen(function*() {
        const session = yield* open()
        const tools = yield* session.tools({ prefix: "fix." })
        assert.deepStrictEqual(tools.map((t) => t.name), [
          "fix.fast",
          "fix.slow",
          "fix.fail",
          "fix.picture",
          "fix.crash"
        ])
        assert.deepStrictEqual(tools[0]?.arguments_schema, {
          type: "object",
          properties: { text: { type: "string" } },
          required: ["text"]
        })
        assert.isTrue((yield* session.tools()).some((t) => t.name === "ticker"), "the runtime's own tools stay")

        const fast = yield* session.invoke("fix.fast", { text: "hi" })
        assert.deepStrictEqual(yield* fast.outcome, { content: [{ type: "text", text: "fast: hi" }], text: "fast: hi" })

        const messages = yield* session.messages
        const slow = yield* session.invoke("fix.slow", { steps: 3, ms: 5 })
        const seen = yield* collectUntil(messages, (m) => m.job_id === slow.jobId && terminal(m))
        const progress = seen.filter((m) => m.job_id === slow.jobId && m.type === "job.progress")
        assert.deepStrictEqual(progress.map((p) => [field(p, "current"), field(p, "total"), field(p, "message")]), [
          [1, 3, "step 1"],
          [2, 3, "step 2"],
          [3, 3, "step 3"]
        ])
        assert.deepStrictEqual(Reflect.get(Object(field(seen.at(-1), "value")), "structured"), { steps: 3 })

        const failed = yield* session.invoke("fix.fail", { message: "boom" })
        const error = yield* Effect.flip(failed.outcome)
        assert.strictEqual(Reflect.get(error, "code"), "UNKNOWN")
        assert.include(error.message, "fix.fail failed: boom")
        const protocol = yield* session.invoke("fix.fail", { protocol: true, message: "nope" })
        assert.strictEqual(Reflect.get(yield* Effect.flip(protocol.outcome), "code"), "INVALID_ARGUMENT")

        const picture = yield* Effect.flatMap(session.invoke("fix.picture", {}), (j) => j.outcome)
        const block = Reflect.get(Object(picture), "content")[0]
        assert.strictEqual(block.type, "image")
        assert.strictEqual(block.mimeType, "image/png")

        const refused = yield* Effect.flip(session.invoke("fix.fast", { text: 5 }))
        assert.strictEqual(Reflect.get(refused, "code"), "INVALID_ARGUMENT")
        const unknown = yield* Effect.flip(session.invoke("fix.nope", {}))
        assert.strictEqual(Reflect.get(unknown, "code"), "NOT_FOUND")
      }).pipe(Effect.provide(server([fixtureSpec("fix")]))),
    30_000
  )

  it.scopedLive(
    "R20-1 ARCP cancel reaches the MCP server as a cancellation; the job ends cancelled",
    () =>
      Effect.gen(function*() {
        const cancelledThere = yield* Deferred.make<void>()
        const started = yield* Deferred.make<void>()
        yield* Effect.gen(function*() {
          const session = yield* open()
          const messages = yield* session.messages
          const slow = yield* session.invoke("fix.slow", { steps: 1000, ms: 20 })
          yield* collectUntil(messages, (m) => m.job_id === slow.jobId && m.type === "job.progress")
          const answer = yield* slow.cancel({ reason: "enough" })
          assert.strictEqual(answer.type, "cancel.accepted")
          const code = Reflect.get(yield* Effect.flip(slow.outcome), "code")
          assert.strictEqual(code, "CANCELLED")
          // the fixture writes this to its stderr, which the runtime logs
          yield* Deferred.await(cancelledThere)
        }).pipe(Effect.provide(server([fixtureSpec("fix")], (line) => {
          if (line.includes("cancelled slow")) Deferred.unsafeDone(cancelledThere, Effect.void)
          if (line.includes("fixture started")) Deferred.unsafeDone(started, Effect.void)
        })))
        assert.isTrue(yield* Deferred.isDone(started), "the server's stderr is in the runtime's log")
      }),
    30_000
  )

  it.scopedLive(
    "R20-1 a server that is down answers UNAVAILABLE (retryable); a crashed one is restarted",
    () =>
      Effect.gen(function*() {
        const session = yield* open()
        const down = (yield* Effect.flip(session.invoke("dead.anything", {}))) as ArcpError
        assert.strictEqual(down.code, "UNAVAILABLE")
        assert.isTrue(down.retryable)

        const crash = yield* session.invoke("fix.crash", {})
        assert.strictEqual(Reflect.get(yield* Effect.flip(crash.outcome), "code"), "UNAVAILABLE")
        // restarted with backoff: the call succeeds again once it is back (retried while UNAVAILABLE)
        const again = yield* session.invoke("fix.fast", { text: "back" }).pipe(
          Effect.flatMap((j) => j.outcome),
          Effect.retry({
            while: (e) => Reflect.get(e, "code") === "UNAVAILABLE",
            schedule: Schedule.spaced("50 millis"),
            times: 200
          })
        )
        assert.strictEqual(Reflect.get(Object(again), "text"), "fast: back")
      }).pipe(Effect.provide(server(
        [
          fixtureSpec("fix"),
          { _tag: "Stdio", name: "dead", command: "node", args: ["-e", "process.exit(1)"] }
        ],
        undefined,
        { initialBackoff: "50 millis", startupTimeout: "5 seconds" }
      ))),
    30_000
  )
})
