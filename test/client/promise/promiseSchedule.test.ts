/** Schedules and retries through the Promise adapter (`arcp/promise`). */
import { assert, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import { ArcpError, connect, createServer, tool } from "../../../src/client/promise/Promise.js"
import { SCHEDULES_EXTENSION } from "../../../src/protocol/messages/Execution.js"

describe("arcp/promise schedules and retries", () => {
  it(
    "R10.6-1 R10.1-1 schedules a Promise tool, sees its firing, lists and cancels schedules; a tool's retry policy and ctx.attempt",
    async () => {
      const shaky = tool({
        name: "shaky",
        parameters: Schema.Struct({ fail: Schema.Number }),
        retry: { attempts: 3, backoff: { initial: "10 millis" } },
        handler: async ({ fail }, ctx) => {
          if (ctx.attempt <= fail) throw ArcpError.of("UNAVAILABLE", `attempt ${ctx.attempt} fails`)
          return { attempt: ctx.attempt }
        }
      })
      const server = await createServer({
        port: 0,
        logLevel: "none",
        auth: { bearer: new Map([["t", "alice"]]) },
        tools: [shaky]
      })
      try {
        const session = await connect(server.address, {
          credentials: { scheme: "bearer", token: "t" },
          capabilities: { scheduled_jobs: true, extensions: [SCHEDULES_EXTENSION] }
        })
        assert.isTrue(session.capabilities.scheduled_jobs)
        const retried = await session.invoke("shaky", { fail: 2 })
        assert.deepStrictEqual(await retried.result, { attempt: 3 })

        const soon = await session.schedule("shaky", { fail: 0 }, { after: 0 })
        assert.match(soon.scheduleId, /^sch_/)
        const types: Array<string> = []
        for await (const event of soon.firings) {
          types.push(event.type)
          if (event.type === "job.completed") {
            assert.deepStrictEqual(Reflect.get(event.payload, "result"), { attempt: 1 })
            break
          }
        }
        assert.strictEqual(types[0], "job.accepted")

        const daily = await session.schedule("shaky", { fail: 0 }, {
          every: "FREQ=DAILY;BYHOUR=6;BYMINUTE=0;BYSECOND=0"
        }, {
          missed: "skip"
        })
        const listed = await session.listSchedules()
        assert.deepStrictEqual(listed.map((s) => Reflect.get(Object(s), "schedule_id")), [daily.scheduleId])
        assert.strictEqual((await daily.cancel()).type, "cancel.accepted")
        assert.deepStrictEqual(await session.listSchedules(), [])

        const refused = await session.schedule("shaky", { fail: 0 }, { at: "2001-01-01T00:00:00Z" }).then(
          () => undefined,
          (e: unknown) => e
        )
        assert.instanceOf(refused, ArcpError)
        assert.strictEqual(refused instanceof ArcpError ? refused.code : "", "INVALID_ARGUMENT")
        await session.close()
      } finally {
        await server.close()
      }
    },
    30_000
  )
})
