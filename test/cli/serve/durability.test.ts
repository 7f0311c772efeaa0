/**
 * `arcp serve --durability`: in every mode an envelope is committed to the log before the client sees it,
 * so what a client was answered survives the server process being killed (SIGKILL, no shutdown).
 */
import { assert, describe, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { Effect } from "effect"
import { execFile } from "node:child_process"
import { join } from "node:path"
import * as Client from "../../../src/client/Client.js"
import * as WebSocket from "../../../src/transport/WebSocket.js"
import { bin, exitOf, root, serveWs } from "../../support/Child.js"
import { tempDir } from "../../support/TempDir.js"

describe("arcp serve --durability", () => {
  for (const mode of [[], ["--durability", "full"], ["--durability", "normal"]]) {
    it.scopedLive(
      `R4.3-1 ${mode.join(" ") || "default (normal)"}: a result the client received is in the log after SIGKILL`,
      () =>
        Effect.gen(function*() {
          const dir = yield* tempDir("arcp-durability-")
          const file = join(dir, "arcp.db")
          const { address, child } = yield* Effect.promise(() =>
            serveWs(["--db", file, "--bearer", "tok=alice", ...mode])
          )
          yield* Effect.addFinalizer(() => Effect.sync(() => child.kill("SIGKILL")))
          const result = yield* Effect.scoped(Effect.gen(function*() {
            const connection = yield* WebSocket.connect(address)
            const session = yield* Client.connect(connection, { credentials: { scheme: "bearer", token: "tok" } })
            const job = yield* session.invoke("echo", { kept: mode.join(" ") })
            return { id: job.jobId, outcome: yield* job.outcome }
          }))
          assert.deepStrictEqual(result.outcome, { kept: mode.join(" ") })
          child.kill("SIGKILL")
          yield* exitOf(child)
          const db = new Database(file, { readonly: true })
          const rows = db.prepare<[string], { type: string }>(
            "SELECT type FROM events WHERE job_id = ? AND direction = 'out'"
          )
            .all(result.id).map((row) => row.type)
          db.close()
          assert.includeMembers(rows, ["job.accepted", "tool.result"])
        }),
      60_000
    )
  }

  it("an unknown mode is refused in one sentence naming the two choices", async () => {
    const out = await new Promise<{ code: number; text: string }>((resolve) => {
      execFile(
        "node",
        [bin, "serve", "--db", ":memory:", "--durability", "sometimes"],
        { cwd: root },
        (e, o, err) => resolve({ code: e === null ? 0 : typeof e.code === "number" ? e.code : 1, text: o + err })
      )
    })
    assert.notStrictEqual(out.code, 0)
    assert.match(out.text, /normal, full/)
    assert.notMatch(out.text, /\n\s+at /)
  }, 30_000)
})
