/** MCP servers as ARCP tools: the SDK fixture server (a real child process on stdio) driven over ARCP. */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Layer, Logger, LogLevel, Schedule, Stream } from "effect"
import { join } from "node:path"
import * as DemoTools from "../../src/cli/demoTools.js"
import * as Client from "../../src/client/Client.js"
import * as McpTools from "../../src/mcp/McpTools.js"
import type { McpServerSpec } from "../../src/mcp/Spec.js"
import type { ArcpError } from "../../src/protocol/Errors.js"
import * as Auth from "../../src/runtime/auth/Auth.js"
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

/** The fixture's 1-pixel PNG, base64. */
const PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="

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
          "fix.crash",
          "fix.stubborn",
          "fix.grow",
          "fix.touch",
          "fix.resources.list",
          "fix.resources.read",
          "fix.resources.subscribe"
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

        // text inline; the image's bytes and the embedded blob are artifacts of the job
        const picture = yield* Effect.flatMap(session.invoke("fix.picture", {}), (j) => j.outcome)
        const [image, text, embedded] = Reflect.get(Object(picture), "content")
        assert.deepStrictEqual([image.type, image.mimeType, image.data], ["image", "image/png", undefined])
        assert.deepStrictEqual(text, { type: "text", text: "a pixel" })
        assert.strictEqual(Reflect.get(Object(picture), "text"), "a pixel")
        for (const ref of [image.artifact, embedded.resource.artifact]) {
          assert.strictEqual(ref.media_type, "image/png")
          const bytes = yield* Stream.runCollect(session.fetchArtifact(ref))
          assert.strictEqual(Buffer.concat([...bytes]).toString("base64"), PIXEL)
        }
        assert.deepStrictEqual([embedded.resource.uri, embedded.resource.blob], ["fixture://pixel", undefined])

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
    "R20-1 R10.4-6 R10.4-7 a server that ignores the MCP cancellation past deadline_ms leaves the job ABORTED",
    () =>
      Effect.gen(function*() {
        const session = yield* open()
        const messages = yield* session.messages
        const stubborn = yield* session.invoke("fix.stubborn", { ms: 4000 })
        yield* collectUntil(messages, (m) => m.job_id === stubborn.jobId && m.type === "job.progress")
        const answer = yield* stubborn.cancel({ reason: "stop", deadline_ms: 1500 })
        assert.strictEqual(answer.type, "cancel.accepted")
        const error = yield* Effect.flip(stubborn.outcome)
        assert.strictEqual(Reflect.get(error, "code"), "ABORTED")
        // a server that honours it (fix.slow stops at once) goes quiet: cancelled within the same deadline
        const slow = yield* session.invoke("fix.slow", { steps: 1000, ms: 20 })
        yield* collectUntil(messages, (m) => m.job_id === slow.jobId && m.type === "job.progress")
        yield* slow.cancel({ reason: "stop", deadline_ms: 1500 })
        assert.strictEqual(Reflect.get(yield* Effect.flip(slow.outcome), "code"), "CANCELLED")
      }).pipe(Effect.provide(server([fixtureSpec("fix")], undefined, { cancelQuiet: "400 millis" }))),
    30_000
  )

  it.scopedLive(
    "R20-2 MCP resources: listed, read into artifacts, and watched as a kind event stream until cancelled",
    () =>
      Effect.gen(function*() {
        const unsubscribed = yield* Deferred.make<void>()
        yield* Effect.gen(function*() {
          const session = yield* open()
          const listed = yield* Effect.flatMap(session.invoke("fix.resources.list", {}), (j) => j.outcome)
          assert.deepStrictEqual(
            Reflect.get(Object(listed), "resources").map((r: { uri: string }) => r.uri),
            ["fixture://greeting", "fixture://pixel"]
          )

          const read = yield* Effect.flatMap(
            session.invoke("fix.resources.read", { uri: "fixture://greeting" }),
            (j) => j.outcome
          )
          const [greeting] = Reflect.get(Object(read), "contents")
          assert.deepStrictEqual([greeting.uri, greeting.text, greeting.artifact.media_type], [
            "fixture://greeting",
            undefined,
            "text/plain"
          ])
          const text = yield* Stream.runCollect(session.fetchArtifact(greeting.artifact))
          assert.strictEqual(Buffer.concat([...text]).toString(), "hello from the fixture")
          const missing = yield* Effect.flip(
            Effect.flatMap(session.invoke("fix.resources.read", { uri: "fixture://nope" }), (j) => j.outcome)
          )
          assert.include(missing.message, "no resource fixture://nope")

          const messages = yield* session.messages
          const watch = yield* session.invoke("fix.resources.subscribe", { uri: "fixture://pixel", read: true })
          const chunkOf = (m: { readonly job_id?: string | undefined; readonly type: string }) =>
            m.job_id === watch.jobId && m.type === "stream.chunk"
          const opened = yield* collectUntil(messages, chunkOf)
          const streamOpen = opened.find((m) => m.job_id === watch.jobId && m.type === "stream.open")
          assert.deepStrictEqual([field(streamOpen, "kind"), field(streamOpen, "content_type")], [
            "event",
            "application/json"
          ])
          assert.deepStrictEqual(field(opened.at(-1), "event"), { event: "subscribed", uri: "fixture://pixel" })
          yield* Effect.flatMap(session.invoke("fix.touch", { uri: "fixture://pixel" }), (j) => j.outcome)
          const updated = field((yield* collectUntil(messages, chunkOf)).at(-1), "event")
          assert.strictEqual(Reflect.get(Object(updated), "event"), "updated")
          assert.strictEqual(Reflect.get(Object(updated), "change"), 1)
          const [pixel] = Reflect.get(Object(updated), "contents")
          assert.strictEqual(pixel.artifact.media_type, "image/png")
          const bytes = yield* Stream.runCollect(session.fetchArtifact(pixel.artifact))
          assert.strictEqual(Buffer.concat([...bytes]).toString("base64"), PIXEL)

          yield* watch.cancel({ reason: "enough" })
          assert.strictEqual(Reflect.get(yield* Effect.flip(watch.outcome), "code"), "CANCELLED")
          yield* Deferred.await(unsubscribed)
        }).pipe(Effect.provide(server([fixtureSpec("fix")], (line) => {
          if (line.includes("unsubscribed fixture://pixel")) Deferred.unsafeDone(unsubscribed, Effect.void)
        })))
      }),
    30_000
  )

  it.scopedLive(
    "R20-1 a server whose tool list changes is listed again: discovery and invoke see the new tool",
    () =>
      Effect.gen(function*() {
        const session = yield* open()
        assert.isFalse((yield* session.tools({ prefix: "fix.extra" })).length > 0)
        yield* Effect.flatMap(session.invoke("fix.grow", {}), (j) => j.outcome)
        const listed = yield* session.tools({ prefix: "fix.extra" }).pipe(
          Effect.filterOrFail((tools) => tools.length > 0),
          Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 250 })
        )
        assert.deepStrictEqual(listed.map((t) => [t.name, t.description]), [["fix.extra", "Added by grow"]])
        const extra = yield* Effect.flatMap(session.invoke("fix.extra", {}), (j) => j.outcome)
        assert.strictEqual(Reflect.get(Object(extra), "text"), "extra")
      }).pipe(Effect.provide(server([fixtureSpec("fix")]))),
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
