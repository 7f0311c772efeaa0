/**
 * ARCP tools as an MCP server (`arcp mcp`): an MCP host (an IDE, a desktop
 * assistant) lists the runtime's tools (through `arcpx.arcp.tools.v1`) and
 * calls them; each call runs as an ARCP job. Job progress becomes MCP progress
 * notifications, MCP cancellation cancels the job, and a job's human-input
 * request is put to the user through MCP elicitation when the host supports it.
 */
import { Server } from "@modelcontextprotocol/sdk/server/index.js"
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js"
import {
  CallToolRequestSchema,
  type CallToolResult,
  ErrorCode,
  ListToolsRequestSchema,
  McpError,
  type PrimitiveSchemaDefinition,
  PrimitiveSchemaDefinitionSchema
} from "@modelcontextprotocol/sdk/types.js"
import { Deferred, Effect, Runtime, Stream } from "effect"
import type { JobHandle, Session } from "../client/Client.js"
import { ArcpError } from "../protocol/Errors.js"
import type { Decoded } from "../protocol/Message.js"
import { VERSION } from "../Version.js"

type Extra = {
  readonly signal: AbortSignal
  readonly sendNotification: (n: {
    method: "notifications/progress"
    params: { progressToken: string | number; progress: number; total?: number; message?: string }
  }) => Promise<void>
}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

/**
 * MCP elicitation takes a flat object of primitive fields: a response schema of that
 * shape goes as it is; a primitive one is asked as the one field `value`; anything else
 * as `value`, a JSON text parsed back.
 */
const elicitationSchema = (schema: Record<string, unknown>) => {
  const field = (s: unknown): PrimitiveSchemaDefinition | undefined => {
    const parsed = PrimitiveSchemaDefinitionSchema.safeParse(s)
    return parsed.success ? parsed.data : undefined
  }
  const properties = isRecord(schema["properties"]) ? schema["properties"] : undefined
  if (schema["type"] === "object" && properties !== undefined) {
    const fields = Object.entries(properties).map(([k, v]) => [k, field(v)] as const)
    const flat: Record<string, PrimitiveSchemaDefinition> = {}
    for (const [k, v] of fields) if (v !== undefined) flat[k] = v
    if (Object.keys(flat).length === fields.length) {
      const required = Array.isArray(schema["required"]) ? schema["required"].map(String) : undefined
      return {
        requestedSchema: { type: "object" as const, properties: flat, ...(required ? { required } : {}) },
        unwrap: (content: Record<string, unknown>): unknown => content
      }
    }
  }
  const single = field(schema)
  return single !== undefined
    ? {
      requestedSchema: { type: "object" as const, properties: { value: single }, required: ["value"] },
      unwrap: (content: Record<string, unknown>): unknown => content["value"]
    }
    : {
      requestedSchema: {
        type: "object" as const,
        properties: { value: { type: "string" as const, description: `JSON matching ${JSON.stringify(schema)}` } },
        required: ["value"]
      },
      unwrap: (content: Record<string, unknown>): unknown => {
        try {
          return JSON.parse(String(content["value"]))
        } catch {
          return content["value"]
        }
      }
    }
}

/** A tool failure as MCP reports it: a result with isError (the model sees the message). */
const failure = (error: { readonly code?: string | undefined; readonly message: string }): CallToolResult => ({
  isError: true,
  content: [{ type: "text", text: `${error.code ?? "ERROR"}: ${error.message}` }]
})

/** A job's result value as MCP content: JSON text, and the object itself as structured content. */
const success = (value: unknown): CallToolResult => ({
  content: [{ type: "text", text: typeof value === "string" ? value : JSON.stringify(value) ?? "null" }],
  ...(isRecord(value) ? { structuredContent: value } : {})
})

/** Serves `session`'s tools over `transport` until the MCP host disconnects (or the scope closes). */
export const serve = Effect.fnUntraced(function*(session: Session, transport: Transport) {
  const runtime = yield* Effect.runtime<never>()
  const run = Runtime.runPromise(runtime)
  const server = new Server({ name: "arcp", version: VERSION }, { capabilities: { tools: {} } })
  const closed = yield* Deferred.make<void>()
  server.onclose = () => Runtime.runFork(runtime)(Deferred.succeed(closed, undefined))

  server.setRequestHandler(ListToolsRequestSchema, async () => {
    const tools = await run(session.tools())
    return {
      tools: tools.map((t) => ({
        name: t.name,
        ...(t.description !== undefined ? { description: t.description } : {}),
        // MCP requires an object schema: a tool taking anything takes an object here
        inputSchema: t.arguments_schema["type"] === "object"
          ? { ...t.arguments_schema, type: "object" as const }
          : { type: "object" as const }
      }))
    }
  })

  /** Answers a human.input.request of the job through elicitation, or refuses it (the job is then cancelled). */
  const askHuman = (job: JobHandle, request: Decoded, refusals: Array<string>) =>
    Effect.gen(function*() {
      const prompt = String(Reflect.get(request.payload, "prompt") ?? "")
      const schema = Reflect.get(request.payload, "response_schema")
      if (server.getClientCapabilities()?.elicitation === undefined) {
        refusals.push(`the tool asked for human input ("${prompt}") and this MCP host does not support elicitation`)
        return yield* Effect.ignore(job.cancel({ reason: "human input is not available through this MCP host" }))
      }
      const { requestedSchema, unwrap } = elicitationSchema(isRecord(schema) ? schema : {})
      const answer = yield* Effect.tryPromise(() => server.elicitInput({ message: prompt, requestedSchema }))
      if (answer.action !== "accept" || answer.content === undefined) {
        refusals.push(`the user did not answer ("${answer.action}")`)
        return yield* Effect.ignore(job.cancel({ reason: `the user chose ${answer.action}` }))
      }
      yield* session.respond(request.id, unwrap(answer.content), "mcp-elicitation")
    }).pipe(Effect.catchAll((e) =>
      Effect.zipRight(
        Effect.sync(() => refusals.push(`cannot ask the user: ${e.message}`)),
        Effect.ignore(job.cancel({ reason: "human input failed" }))
      )
    ))

  /** Puts a human.choice.request to the user as an elicitation with one enum field `choice`, or refuses it. */
  const askChoice = (job: JobHandle, request: Decoded, refusals: Array<string>) =>
    Effect.gen(function*() {
      const prompt = String(Reflect.get(request.payload, "prompt") ?? "")
      const raw: unknown = Reflect.get(request.payload, "options")
      const options = Array.isArray(raw) ? raw.filter(isRecord) : []
      if (server.getClientCapabilities()?.elicitation === undefined) {
        refusals.push(`the tool asked for a choice ("${prompt}") and this MCP host does not support elicitation`)
        return yield* Effect.ignore(job.cancel({ reason: "human input is not available through this MCP host" }))
      }
      const ids = options.map((o) => String(o["id"]))
      const answer = yield* Effect.tryPromise(() =>
        server.elicitInput({
          message: prompt,
          requestedSchema: {
            type: "object",
            properties: {
              choice: {
                type: "string",
                enum: ids,
                enumNames: options.map((o) => typeof o["label"] === "string" ? o["label"] : String(o["id"]))
              }
            },
            required: ["choice"]
          }
        })
      )
      const choice = answer.content?.["choice"]
      if (answer.action !== "accept" || typeof choice !== "string" || !ids.includes(choice)) {
        refusals.push(`the user did not choose ("${answer.action}")`)
        return yield* Effect.ignore(job.cancel({ reason: `the user chose ${answer.action}` }))
      }
      yield* session.respondChoice(request.id, choice, "mcp-elicitation")
    }).pipe(Effect.catchAll((e) =>
      Effect.zipRight(
        Effect.sync(() => refusals.push(`cannot ask the user: ${e.message}`)),
        Effect.ignore(job.cancel({ reason: "human input failed" }))
      )
    ))

  /** Asks the user to allow a permission.request of the job (elicitation), or denies it when nobody can be asked. */
  const askPermission = (request: Decoded, refusals: Array<string>) =>
    Effect.gen(function*() {
      const field = (key: string) => String(Reflect.get(request.payload, key) ?? "")
      const what = `${field("permission")} on ${field("resource")} (${field("operation")})`
      if (server.getClientCapabilities()?.elicitation === undefined) {
        refusals.push(`the tool asked for permission ${what} and this MCP host does not support elicitation`)
        return yield* session.deny(request, "no one can grant it: the MCP host does not support elicitation")
      }
      const reason = field("reason")
      const answer = yield* Effect.tryPromise(() =>
        server.elicitInput({
          message: `Allow ${what}?${reason === "" ? "" : ` ${reason}`}`,
          requestedSchema: { type: "object", properties: { allow: { type: "boolean" } }, required: ["allow"] }
        })
      )
      if (answer.action === "accept" && answer.content?.["allow"] === true) {
        return yield* Effect.asVoid(session.grant(request, { granted_by: "mcp-elicitation" }))
      }
      yield* session.deny(request, `the user did not allow it (${answer.action})`)
    }).pipe(Effect.catchAll((e) => Effect.sync(() => refusals.push(`cannot ask for permission: ${e.message}`))))

  server.setRequestHandler(CallToolRequestSchema, async (request, extra: Extra) => {
    const token = request.params._meta?.progressToken
    const call = Effect.gen(function*() {
      const job = yield* session.invoke(request.params.name, request.params.arguments ?? {}).pipe(
        Effect.catchAll((e) =>
          e instanceof ArcpError && (e.code === "NOT_FOUND" || e.code === "INVALID_ARGUMENT")
            ? Effect.die(new McpError(ErrorCode.InvalidParams, e.message))
            : Effect.fail(e)
        )
      )
      const onAbort = () =>
        Runtime.runFork(runtime)(Effect.ignore(job.cancel({ reason: "cancelled by the MCP client" })))
      extra.signal.addEventListener("abort", onAbort, { once: true })
      yield* Effect.addFinalizer(() => Effect.sync(() => extra.signal.removeEventListener("abort", onAbort)))
      const refusals: Array<string> = []
      yield* job.events.pipe(
        Stream.runForEach((event) => {
          if (event.type === "human.input.request") return askHuman(job, event, refusals)
          if (event.type === "permission.request") return askPermission(event, refusals)
          if (event.type === "human.choice.request") return askChoice(job, event, refusals)
          if (event.type !== "job.progress" || token === undefined) return Effect.void
          const current = Reflect.get(event.payload, "current")
          const percent = Reflect.get(event.payload, "percent")
          const total = Reflect.get(event.payload, "total")
          const message = Reflect.get(event.payload, "message")
          const progress = typeof current === "number" ? current : typeof percent === "number" ? percent : undefined
          if (progress === undefined) return Effect.void
          return Effect.promise(() =>
            extra.sendNotification({
              method: "notifications/progress",
              params: {
                progressToken: token,
                progress,
                ...(typeof current === "number" && typeof total === "number" ? { total } : {}),
                ...(typeof current !== "number" ? { total: 100 } : {}),
                ...(typeof message === "string" ? { message } : {})
              }
            }).catch(() => undefined)
          )
        }),
        Effect.forkScoped
      )
      return yield* job.outcome.pipe(
        Effect.map(success),
        Effect.catchAll((e) =>
          Effect.succeed(failure(refusals.length > 0 ? { code: e.code, message: refusals.join("; ") } : e))
        )
      )
    })
    return run(Effect.scoped(call).pipe(Effect.catchAll((e) => Effect.succeed(failure(e)))))
  })

  yield* Effect.acquireRelease(
    Effect.promise(() => server.connect(transport)),
    () => Effect.promise(() => server.close().catch(() => undefined))
  )
  yield* Effect.raceFirst(Deferred.await(closed), Effect.asVoid(session.ended))
})
