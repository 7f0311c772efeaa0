/** The Promise adapter (`arcp/promise`): server, session, jobs as Promises and async iterators, Promise tools. */
import { assert, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import { createHash } from "node:crypto"
import {
  AnyArguments,
  ArcpError,
  chunkBytes,
  connect,
  createServer,
  tool
} from "../../../src/client/promise/Promise.js"

describe("arcp/promise", () => {
  it("R11.3-4 binary stream chunks reach a Promise client over WebSocket as sidecar frames, bytes intact", async () => {
    const bytes = new Uint8Array(1024 * 1024).map((_, i) => (i * 31 + (i >> 8)) & 0xff)
    const blob = tool({
      name: "blob",
      parameters: AnyArguments,
      handler: async (_, ctx) => {
        const stream = await ctx.stream({ kind: "binary" })
        for (let offset = 0; offset < bytes.byteLength; offset += 256 * 1024) {
          await stream.write(bytes.subarray(offset, offset + 256 * 1024))
        }
        await stream.close()
        return "done"
      }
    })
    const server = await createServer({
      port: 0,
      logLevel: "none",
      auth: { bearer: new Map([["t", "alice"]]) },
      tools: [blob]
    })
    try {
      const session = await connect(server.address, { credentials: { scheme: "bearer", token: "t" } })
      assert.deepStrictEqual(session.capabilities.binary_encoding, ["base64", "sidecar"])
      const job = await session.invoke("blob", {})
      const parts: Array<Uint8Array> = []
      for await (const event of job.events) {
        const part = chunkBytes(event)
        if (part !== undefined) parts.push(part)
      }
      assert.strictEqual(parts.length, 4)
      const digest = (b: Uint8Array) => createHash("sha256").update(b).digest("hex")
      assert.strictEqual(digest(Buffer.concat(parts)), digest(bytes))
      await session.close()
    } finally {
      await server.close()
    }
  }, 20_000)

  it("connects, pings, runs a Promise tool with progress, and rejects with typed errors", async () => {
    const add = tool({
      name: "add",
      parameters: Schema.Struct({ a: Schema.Number, b: Schema.Number }),
      handler: async ({ a, b }, ctx) => {
        await ctx.progress({ current: 1, total: 1 })
        return a + b
      }
    })
    const wait = tool({
      name: "wait",
      parameters: AnyArguments,
      handler: (_, ctx) =>
        new Promise((_, reject) => ctx.signal.addEventListener("abort", () => reject(new Error("aborted"))))
    })
    const server = await createServer({
      port: 0,
      logLevel: "none",
      auth: { bearer: new Map([["t", "alice"]]) },
      tools: [add, wait]
    })
    try {
      const session = await connect(server.address, { credentials: { scheme: "bearer", token: "t" } })
      assert.isAtLeast(await session.ping(), 0)
      assert.strictEqual(await server.sessionCount(), 1)

      const job = await session.invoke("add", { a: 2, b: 3 })
      const types: Array<string> = []
      for await (const event of job.events) types.push(event.type)
      assert.strictEqual(await job.result, 5)
      assert.include(types, "job.progress")
      assert.strictEqual(types.at(-1), "tool.result")

      const refused = await session.invoke("add", { a: "two" }).then(() => undefined, (e: unknown) => e)
      assert.instanceOf(refused, ArcpError)
      assert.strictEqual(refused instanceof ArcpError ? refused.code : "", "INVALID_ARGUMENT")

      // cancellation reaches a Promise handler through its AbortSignal
      const waiting = await session.invoke("wait", {})
      assert.strictEqual((await waiting.cancel()).type, "cancel.accepted")
      const cancelled = await waiting.result.then(() => undefined, (e: unknown) => e)
      assert.strictEqual(cancelled instanceof ArcpError ? cancelled.code : "", "CANCELLED")

      const rejected = await connect(server.address, { credentials: { scheme: "bearer", token: "wrong" } }).then(
        () => undefined,
        (e: unknown) => e
      )
      assert.strictEqual(rejected instanceof ArcpError ? rejected.code : "", "UNAUTHENTICATED")
      await session.close()
    } finally {
      await server.close()
    }
  }, 20_000)

  it(
    "R4.2-1 R11.1-1 R15.4-5 a Promise handler streams text chunks through ctx.stream; createServer's plain async permission policy grants and denies",
    async () => {
      const story = tool({
        name: "story",
        parameters: AnyArguments,
        handler: async (_, ctx) => {
          const text = await ctx.stream({ kind: "text", content_type: "text/plain" })
          await text.write("once ")
          await text.write("upon ")
          await text.write("a time")
          await text.close("done")
          const late = await text.write("!").then(
            () => "written",
            (e: unknown) => (e instanceof ArcpError ? e.code : String(e))
          )
          const permission = await ctx.requestPermission({
            permission: "fs.write",
            resource: "file:/tmp/story",
            operation: "write"
          })
            .then(() => "granted", (e: unknown) => (e instanceof ArcpError ? e.code : String(e)))
          const read = await ctx.requestPermission({
            permission: "fs.read",
            resource: "file:/tmp/story",
            operation: "read"
          })
          return { late, permission, read: read.permission }
        }
      })
      const server = await createServer({
        port: 0,
        logLevel: "none",
        auth: { bearer: new Map([["t", "alice"]]) },
        tools: [story],
        permissionPolicy: async (question) =>
          question.permission === "fs.read" ? "grant" : { decision: "deny", reason: "no writes here" }
      })
      try {
        const session = await connect(server.address, { credentials: { scheme: "bearer", token: "t" } })
        const job = await session.invoke("story")
        const streamed: Array<{ readonly type: string; readonly payload: unknown }> = []
        for await (const event of job.events) {
          if (event.type.startsWith("stream.")) {
            streamed.push({ type: event.type, payload: event.payload })
          }
        }
        assert.deepStrictEqual(await job.result, {
          late: "FAILED_PRECONDITION",
          permission: "PERMISSION_DENIED",
          read: "fs.read"
        })
        assert.deepStrictEqual(streamed.map((m) => m.type), [
          "stream.open",
          "stream.chunk",
          "stream.chunk",
          "stream.chunk",
          "stream.close"
        ])
        assert.deepInclude(streamed[0]?.payload, { kind: "text", content_type: "text/plain" })
        assert.deepStrictEqual(
          streamed.slice(1, 4).map((m) => m.payload),
          [{ sequence: 0, data: "once " }, { sequence: 1, data: "upon " }, { sequence: 2, data: "a time" }]
        )
        assert.deepInclude(streamed[4]?.payload, { reason: "done", total_chunks: 3 })
        await session.close()
      } finally {
        await server.close()
      }
    },
    20_000
  )

  it(
    "R16.2-1 putArtifact takes a Uint8Array, a ReadableStream or an async iterable; fetchArtifact streams it back",
    async () => {
      const server = await createServer({ port: 0, logLevel: "none", auth: { bearer: new Map([["t", "alice"]]) } })
      try {
        const session = await connect(server.address, { credentials: { scheme: "bearer", token: "t" } })
        const bytes = new Uint8Array(700_000).map((_, i) => i & 0xff)
        const fromBytes = await session.putArtifact(bytes, { mediaType: "x/y" })
        const fromWeb = await session.putArtifact(
          new ReadableStream<Uint8Array>({
            start: (controller) => {
              controller.enqueue(bytes.subarray(0, 300_000))
              controller.enqueue(bytes.subarray(300_000))
              controller.close()
            }
          }),
          { mediaType: "x/y" }
        )
        async function* pieces() {
          yield bytes.subarray(0, 1)
          yield bytes.subarray(1)
        }
        const fromIterable = await session.putArtifact(pieces(), { mediaType: "x/y", encoding: "base64" })
        for (const ref of [fromBytes, fromWeb, fromIterable]) {
          assert.strictEqual(ref.size, bytes.length)
          assert.strictEqual(ref.sha256, fromBytes.sha256)
          const chunks: Array<Uint8Array> = []
          for await (const chunk of session.fetchArtifact(ref)) chunks.push(chunk)
          assert.deepStrictEqual(new Uint8Array(Buffer.concat(chunks)), bytes)
        }
        const gone = await session.fetchArtifactBytes("art_none").then(() => undefined, (e: unknown) => e)
        assert.instanceOf(gone, ArcpError)
        assert.strictEqual(gone instanceof ArcpError ? gone.code : undefined, "NOT_FOUND")
        await session.close()
      } finally {
        await server.close()
      }
    },
    60_000
  )
})
