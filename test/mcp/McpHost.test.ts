/** ARCP tools as an MCP server: the official SDK's MCP client against `McpHost.serve` and against `arcp mcp`. */
import { assert, describe, it } from "@effect/vitest"
import { Client as McpClient } from "@modelcontextprotocol/sdk/client/index.js"
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js"
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js"
import { ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js"
import { Effect, Schema } from "effect"
import { execFile } from "node:child_process"
import { join } from "node:path"
import * as McpHost from "../../src/mcp/McpHost.js"
import * as Tools from "../../src/runtime/Tools.js"
import * as Memory from "../../src/transport/Memory.js"
import { bin, root, serveWs } from "../support/Child.js"
import { collectUntil, open, serverLayer } from "../support/Harness.js"

/** Asks a human for a name and greets them. */
const greet = Tools.make({
  name: "greet",
  description: "Asks for a name, then greets",
  parameters: Schema.Struct({}),
  handler: (_, ctx) =>
    Effect.map(
      ctx.askHuman({
        prompt: "Your name?",
        responseSchema: { type: "object", properties: { name: { type: "string" } }, required: ["name"] }
      }),
      (answer) => ({ greeting: `hello ${String(Reflect.get(Object(answer), "name"))}` })
    )
})

/** Asks a human to pick an option, then says which. */
const pick = Tools.make({
  name: "pick",
  parameters: Schema.Struct({}),
  handler: (_, ctx) =>
    Effect.map(
      ctx.askChoice({ prompt: "Pick one", options: [{ id: "a", label: "Apples" }, { id: "b", label: "Bananas" }] }),
      (picked) => ({ picked })
    )
})

/** Asks permission to refund, then refunds. */
const refund = Tools.make({
  name: "refund",
  parameters: Schema.Struct({ order: Schema.String }),
  handler: ({ order }, ctx) =>
    Effect.as(
      ctx.requestPermission({ permission: "payment.refund", resource: `order:${order}`, operation: "create" }),
      { refunded: true }
    )
})

/** An SDK client connected to `McpHost.serve` over the in-memory pair, on a session of the test runtime. */
const hosted = (elicitation: boolean) =>
  Effect.gen(function*() {
    // like `arcp mcp`, the session negotiates human input: its tools may ask
    const session = yield* open({ capabilities: { human_input: true } })
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair()
    yield* Effect.forkScoped(McpHost.serve(session, serverSide))
    const client = new McpClient({ name: "test-host", version: "1.0.0" }, {
      capabilities: elicitation ? { elicitation: {} } : {}
    })
    if (elicitation) {
      client.setRequestHandler(ElicitRequestSchema, async (request) =>
        request.params.message === "Your name?"
          ? { action: "accept", content: { name: "ada" } }
          : request.params.message === "Pick one"
          ? { action: "accept", content: { choice: "b" } }
          : { action: "accept", content: { allow: request.params.message.startsWith("Allow payment.refund") } })
    }
    yield* Effect.acquireRelease(Effect.promise(() => client.connect(clientSide)), () =>
      Effect.promise(() => client.close()))
    return { client, session }
  })

const withServer = Effect.provide(serverLayer({ transport: Memory.layer(), tools: [greet, refund, pick] }))

describe("ARCP tools as an MCP server", () => {
  it.scopedLive(
    "R20-1 lists the runtime's tools; a call runs as a job with progress; MCP cancellation cancels the job",
    () =>
      Effect.gen(function*() {
        const { client, session } = yield* hosted(false)
        const { tools } = yield* Effect.promise(() => client.listTools())
        const ticker = tools.find((t) => t.name === "ticker")
        assert.isDefined(ticker)
        assert.deepStrictEqual(ticker?.inputSchema.required, ["count"])

        const progress: Array<number> = []
        const result = yield* Effect.promise(() =>
          client.callTool({ name: "ticker", arguments: { count: 3, interval_ms: 5 } }, undefined, {
            onprogress: (p) => progress.push(p.progress)
          })
        )
        assert.deepStrictEqual(result.structuredContent, { count: 3 })
        // the SDK may drop the last notification when the answer follows it at once (it handles them a tick later)
        assert.deepStrictEqual(progress.slice(0, 2), [1, 2])

        const failed = yield* Effect.promise(() =>
          client.callTool({ name: "fail", arguments: { code: "PERMISSION_DENIED", message: "no" } })
        )
        assert.isTrue(failed.isError)
        assert.deepStrictEqual(failed.content, [{ type: "text", text: "PERMISSION_DENIED: no" }])
        const unknown = yield* Effect.promise(() => client.callTool({ name: "nope" }).then(() => "", (e) => String(e)))
        assert.include(unknown, "no tool named")

        const messages = yield* session.messages
        const abort = new AbortController()
        const call = client.callTool({ name: "ticker", arguments: { count: 100000, interval_ms: 10 } }, undefined, {
          signal: abort.signal,
          onprogress: () => abort.abort("enough")
        }).then(() => "answered", () => "aborted")
        const seen = yield* collectUntil(messages, (m) => m.type === "job.cancelled")
        assert.strictEqual(seen.at(-1)?.type, "job.cancelled")
        assert.strictEqual(yield* Effect.promise(() => call), "aborted")
      }).pipe(withServer),
    30_000
  )

  it.scopedLive(
    "human input, choice and permission requests go through elicitation where the host supports it, and are refused clearly where not",
    () =>
      Effect.gen(function*() {
        const { client } = yield* hosted(true)
        const answered = yield* Effect.promise(() => client.callTool({ name: "greet", arguments: {} }))
        assert.deepStrictEqual(answered.structuredContent, { greeting: "hello ada" })

        const plain = yield* hosted(false)
        const refused = yield* Effect.promise(() => plain.client.callTool({ name: "greet", arguments: {} }))
        assert.isTrue(refused.isError)
        assert.include(JSON.stringify(refused.content), "this MCP host does not support elicitation")

        const picked = yield* Effect.promise(() => client.callTool({ name: "pick", arguments: {} }))
        assert.deepStrictEqual(picked.structuredContent, { picked: "b" })
        const unpicked = yield* Effect.promise(() => plain.client.callTool({ name: "pick", arguments: {} }))
        assert.isTrue(unpicked.isError)
        assert.include(
          JSON.stringify(unpicked.content),
          "asked for a choice (\\\"Pick one\\\") and this MCP host does not support elicitation"
        )

        const granted = yield* Effect.promise(() => client.callTool({ name: "refund", arguments: { order: "1" } }))
        assert.deepStrictEqual(granted.structuredContent, { refunded: true })
        const denied = yield* Effect.promise(() => plain.client.callTool({ name: "refund", arguments: { order: "2" } }))
        assert.isTrue(denied.isError)
        assert.include(
          JSON.stringify(denied.content),
          "PERMISSION_DENIED: the tool asked for permission payment.refund"
        )
      }).pipe(withServer),
    30_000
  )

  it("`arcp mcp` (spawned by the SDK's client) serves `arcp serve --mcp` tools: MCP → ARCP → MCP", async () => {
    const fixture = join(root, "test", "fixtures", "mcp", "server.mjs")
    const { address, child } = await serveWs([
      "--db",
      ":memory:",
      "--bearer",
      "tok=alice",
      "--mcp",
      `fix=node ${fixture}`
    ])
    const client = new McpClient({ name: "test-host", version: "1.0.0" })
    try {
      await client.connect(
        new StdioClientTransport({ command: "node", args: [bin, "mcp", "--url", address, "--token", "tok"], cwd: root })
      )
      const names = (await client.listTools()).tools.map((t) => t.name)
      assert.includeMembers(names, ["ticker", "fix.fast", "fix.slow"])
      const ticker = await client.callTool({ name: "ticker", arguments: { count: 2 } })
      assert.deepStrictEqual(ticker.structuredContent, { count: 2 })
      const fast = await client.callTool({ name: "fix.fast", arguments: { text: "round trip" } })
      assert.strictEqual(Reflect.get(Object(fast.structuredContent), "text"), "fast: round trip")
      // and `arcp tools` prints what discovery lists
      const listed = await new Promise<string>((resolve, reject) =>
        execFile(
          "node",
          [bin, "tools", "--url", address, "--token", "tok", "--prefix", "fix."],
          { cwd: root },
          (e, out) => e === null ? resolve(out) : reject(e)
        )
      )
      assert.match(listed, /^fix\.fast {2}Answers at once with its text\n {2}arguments: \{"type":"object"/)
      assert.include(listed, "fix.slow  Reports progress once per step; cancellable")
    } finally {
      await client.close()
      const exited = new Promise((resolve) => child.once("exit", resolve))
      child.kill("SIGTERM")
      await exited
    }
  }, 60_000)
})
