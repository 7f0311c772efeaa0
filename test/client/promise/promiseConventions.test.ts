/**
 * The Promise adapter's conventions, as users of ws, undici and the MCP SDK expect: camelCase options,
 * milliseconds, AbortSignal on connect and invoke, `await using`, exported error classes, and tool
 * arguments declared with any Standard Schema validator or a JSON Schema.
 */
import { assert, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import { createServer as createTcpServer } from "node:net"
import { WebSocketServer } from "ws"
import {
  AnyArguments,
  ArcpError,
  ClientError,
  connect,
  createServer,
  jsonSchema,
  type PromiseServer,
  type StandardSchemaV1,
  tool,
  TransportError
} from "../../../src/client/promise/Promise.js"

const credentials = { scheme: "bearer", token: "secret" } as const

/** A hand-written Standard Schema v1 validator, as zod or valibot would hand one over. */
const positiveCount: StandardSchemaV1<unknown, { count: number }> = {
  "~standard": {
    version: 1,
    vendor: "hand-made",
    validate: (value) => {
      const count: unknown = typeof value === "object" && value !== null ? Reflect.get(value, "count") : undefined
      return typeof count === "number" && count > 0
        ? { value: { count } }
        : { issues: [{ message: "must be a positive number", path: [{ key: "count" }] }] }
    }
  }
}

const tools = [
  tool({ name: "double", parameters: positiveCount, handler: async ({ count }) => count * 2 }),
  tool({
    name: "greet",
    parameters: jsonSchema<{ name: string }>({
      type: "object",
      properties: { name: { type: "string", minLength: 1 } },
      required: ["name"],
      additionalProperties: false
    }),
    handler: async ({ name }) => `hello ${name}`
  }),
  tool({
    name: "typed",
    parameters: Schema.Struct({ n: Schema.Number.pipe(Schema.int()) }),
    handler: async ({ n }) => n + 1
  }),
  tool({
    name: "wait",
    parameters: AnyArguments,
    handler: (_args, ctx) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(resolve, 20_000)
        ctx.signal.addEventListener("abort", () => {
          clearTimeout(timer)
          reject(ctx.signal.reason)
        })
      })
  })
]

const withServer = async (body: (server: PromiseServer) => Promise<void>) => {
  const server = await createServer({
    port: 0,
    logLevel: "none",
    auth: { bearer: new Map([["secret", "alice"]]) },
    tools
  })
  try {
    await body(server)
  } finally {
    await server.close()
  }
}

const rejection = (promise: Promise<unknown>) => promise.then(() => undefined, (e: unknown) => e)

describe("arcp/promise conventions", () => {
  it(
    "tool arguments through a Standard Schema validator, a JSON Schema and an Effect Schema; mismatches are INVALID_ARGUMENT sentences",
    () =>
      withServer(async (server) => {
        await using session = await connect(server.address, { credentials })
        assert.strictEqual(await (await session.invoke("double", { count: 21 })).result, 42)
        assert.strictEqual(await (await session.invoke("greet", { name: "ada" })).result, "hello ada")
        assert.strictEqual(await (await session.invoke("typed", { n: 1 })).result, 2)
        const cases: Array<[string, Record<string, unknown>, string]> = [
          ["double", { count: -1 }, "arguments of double: `count`: must be a positive number"],
          ["greet", {}, "arguments of greet: must have required property 'name'"],
          ["greet", { name: "" }, "arguments of greet: `name`: must NOT have fewer than 1 characters"],
          ["typed", { n: 1.5 }, "arguments of typed: `n` must be an integer (got 1.5)"]
        ]
        for (const [name, args, message] of cases) {
          const error = await rejection(session.invoke(name, args))
          assert.instanceOf(error, ArcpError)
          assert.deepStrictEqual([error.code, error.message], ["INVALID_ARGUMENT", message])
        }
      }),
    30_000
  )

  it("`await using` closes the session at the end of the block", () =>
    withServer(async (server) => {
      {
        await using session = await connect(server.address, { credentials })
        await session.ping()
        assert.strictEqual(await server.sessionCount(), 1)
      }
      // the runtime forgets a closed session once its connection ends
      for (let i = 0; i < 50 && await server.sessionCount() > 0; i++) await new Promise((r) => setTimeout(r, 20))
      assert.strictEqual(await server.sessionCount(), 0)
    }), 30_000)

  it(
    "idempotencyKey, traceId and cancel's deadlineMs are camelCase; the options reach the wire",
    () =>
      withServer(async (server) => {
        await using session = await connect(server.address, { credentials, timeoutMs: 10_000 })
        const first = await session.invoke("typed", { n: 1 }, { idempotencyKey: "once", traceId: "trace_abc" })
        const events = []
        for await (const event of first.events) events.push(event)
        assert.isTrue(events.every((e) => e.trace_id === "trace_abc"), JSON.stringify(events.map((e) => e.trace_id)))
        const again = await session.invoke("typed", { n: 1 }, { idempotencyKey: "once" })
        assert.strictEqual(again.jobId, first.jobId)
        const slow = await session.invoke("wait", {})
        const answer = await slow.cancel({ reason: "enough", deadlineMs: 1000 })
        assert.strictEqual(answer.type, "cancel.accepted")
        const error = await rejection(slow.result)
        assert.instanceOf(error, ArcpError)
        assert.strictEqual(error.code, "CANCELLED")
      }),
    30_000
  )

  it(
    "an AbortSignal on invoke: aborted before, it rejects with the reason; aborted after acceptance, the job is cancelled",
    () =>
      withServer(async (server) => {
        await using session = await connect(server.address, { credentials })
        const early = await rejection(session.invoke("wait", {}, { signal: AbortSignal.abort() }))
        assert.instanceOf(early, DOMException)
        assert.strictEqual(early.name, "AbortError")
        const controller = new AbortController()
        const job = await session.invoke("wait", {}, { signal: controller.signal })
        controller.abort()
        const error = await rejection(job.result)
        assert.instanceOf(error, ArcpError)
        assert.strictEqual(error.code, "CANCELLED")
      }),
    30_000
  )

  it(
    "an AbortSignal on connect gives up a connection that hangs; timeoutMs bounds the handshake; a refused port rejects with TransportError",
    async () => {
      // accepts TCP connections and never answers the WebSocket upgrade
      const silent = createTcpServer(() => undefined)
      await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve))
      const address = silent.address()
      const url = `ws://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}`
      try {
        const controller = new AbortController()
        const connecting = rejection(connect(url, { credentials, signal: controller.signal }))
        setTimeout(() => controller.abort(), 200)
        const aborted = await connecting
        assert.instanceOf(aborted, DOMException)
        assert.strictEqual(aborted.name, "AbortError")
        assert.instanceOf(await rejection(connect(url, { credentials, signal: AbortSignal.abort() })), DOMException)
      } finally {
        silent.close()
      }
      // a WebSocket that never answers session.open: timeoutMs ends the wait
      const mute = new WebSocketServer({ host: "127.0.0.1", port: 0 })
      await new Promise((resolve) => mute.once("listening", resolve))
      const muteAddress = mute.address()
      try {
        const started = performance.now()
        const timedOut = await rejection(
          connect(`ws://127.0.0.1:${typeof muteAddress === "object" && muteAddress !== null ? muteAddress.port : 0}`, {
            credentials,
            timeoutMs: 300
          })
        )
        assert.instanceOf(timedOut, ClientError)
        assert.strictEqual(timedOut.reason, "Timeout")
        assert.isBelow(performance.now() - started, 10_000)
      } finally {
        mute.close()
      }
      const closedPort = createTcpServer()
      await new Promise<void>((resolve) => closedPort.listen(0, "127.0.0.1", resolve))
      const closedAddress = closedPort.address()
      await new Promise((resolve) => closedPort.close(resolve))
      const refused = await rejection(
        connect(
          `ws://127.0.0.1:${typeof closedAddress === "object" && closedAddress !== null ? closedAddress.port : 0}`,
          {
            credentials
          }
        )
      )
      assert.instanceOf(refused, TransportError)
    },
    30_000
  )
})
