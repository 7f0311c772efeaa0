/** `arcp/promise` connects over any transport: a URL, a child's stdio pipes, or an open `Connection`. */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer, Scope } from "effect"
import { spawn } from "node:child_process"
import { connect } from "../../../src/client/promise/Promise.js"
import * as Memory from "../../../src/transport/Memory.js"
import { bin, root } from "../../support/Child.js"
import { coreServer } from "../../support/CoreServer.js"
import { dial } from "../../support/Dialer.js"

describe("arcp/promise connect targets", () => {
  it(
    "R4.1-1 R22-1 connects over the stdio pipes of a spawned arcp serve; closing the session ends the child",
    async () => {
      const child = spawn("node", [bin, "serve", "--transport", "stdio", "--db", ":memory:", "--bearer", "t=alice"], {
        cwd: root,
        stdio: ["pipe", "pipe", "ignore"]
      })
      const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
      try {
        const session = await connect({ input: child.stdout, output: child.stdin }, {
          credentials: { scheme: "bearer", token: "t" }
        })
        assert.isAtLeast(await session.ping(), 0)
        const job = await session.invoke("echo", { via: "pipes" })
        assert.deepStrictEqual(await job.result, { via: "pipes" })
        await session.close()
        assert.strictEqual(await exited, 0, "stdio serves one connection: the child exits when it ends")
      } finally {
        child.kill()
      }
    },
    60_000
  )

  it("R8.1-1 connects over an in-memory Connection of an embedded runtime", async () => {
    const scope = Effect.runSync(Scope.make())
    try {
      const context = await Effect.runPromise(Layer.buildWithScope(coreServer(Memory.layer()), scope))
      const connection = await Effect.runPromise(dial.pipe(Effect.provide(context), Scope.extend(scope)))
      const session = await connect(connection, { credentials: { scheme: "bearer", token: "good-token" } })
      assert.isAtLeast(await session.ping(), 0)
      assert.strictEqual((await session.request("ping", {})).type, "pong")
      await session.close()
    } finally {
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
  }, 20_000)
})
