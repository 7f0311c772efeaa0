/** The permission seam of ToolContext (RFC §15.4): not built yet, and says so with the canonical code. */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import * as Client from "../../src/client/Client.js"
import * as Tools from "../../src/runtime/Tools.js"
import { collectUntil, field, memory, open, serverLayer } from "../support/Harness.js"

/** Asks for a refund permission; reports what the ask answered when `catch` is set, else lets the failure end the job. */
const refund = Tools.make({
  name: "refund",
  parameters: Tools.AnyArguments,
  handler: (args, ctx) => {
    const ask = ctx.requestPermission({
      permission: "payment.refund.create",
      resource: "order:ord_4812",
      operation: "refund",
      reason: "Issue a customer-approved refund",
      requestedLeaseSeconds: 300
    })
    return args["catch"] === true
      ? Effect.map(
        Effect.either(ask),
        (e) => (Either.isLeft(e) ? { code: e.left.code, message: e.left.message } : "granted")
      )
      : ask
  }
})

const server = serverLayer({ transport: memory, tools: [refund] })

describe("permissions seam", () => {
  it.scoped("R18.2-1 ToolContext.requestPermission is not built: it fails UNIMPLEMENTED, sends no permission.request, and the job ends tool.error UNIMPLEMENTED", () =>
    Effect.gen(function*() {
      const session = yield* open()
      const job = yield* session.invoke("refund", {})
      const events = yield* collectUntil(job.events, (m) => Client.terminalTypes.has(m.type))
      const error = yield* Effect.flip(job.outcome)
      assert.strictEqual(error._tag === "ArcpError" ? error.code : error._tag, "UNIMPLEMENTED")
      assert.deepStrictEqual([events.at(-1)?.type, field(events.at(-1), "code")], ["tool.error", "UNIMPLEMENTED"])
      assert.isFalse(events.some((m) => m.type === "permission.request"), "nothing is asked on the wire")

      // a handler can catch it and go on
      const caught = yield* session.invoke("refund", { catch: true })
      assert.deepStrictEqual(yield* caught.outcome, { code: "UNIMPLEMENTED", message: "permissions are not built yet" })
    }).pipe(Effect.provide(server)))
})
