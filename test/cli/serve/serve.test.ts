/** `arcp serve` and `arcp send` as real processes: the README's promise. */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { execFile, spawn } from "node:child_process"
import * as Client from "../../../src/client/Client.js"
import * as WebSocket from "../../../src/transport/WebSocket.js"
import { bin, exitOf, root, serveWs, spawnServe } from "../../support/Child.js"
import { expectNack, rawSession } from "../../support/CoreServer.js"
import { collectUntil, field } from "../../support/Harness.js"

const send = (args: ReadonlyArray<string>) =>
  new Promise<{ code: number; stdout: string }>((resolve) => {
    execFile("node", [bin, "send", ...args], { cwd: root }, (error, stdout) => {
      resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout })
    })
  })

/** `arcp serve` on a free port with an in-memory log. */
const serve = (args: ReadonlyArray<string>) => serveWs(["--db", ":memory:", ...args])

describe("arcp serve + arcp send", () => {
  it("R4.1-2 a ping and a tool through the CLI; a wrong token fails; SIGTERM stops the server cleanly", async () => {
    const { address, child } = await serve(["--bearer", "tok=alice"])
    try {
      const ping = await send(["--url", address, "--token", "tok", "--type", "ping"])
      assert.strictEqual(ping.code, 0)
      const lines = ping.stdout.trim().split("\n").map((l) => JSON.parse(l))
      assert.deepStrictEqual(lines.map((m) => m.type), ["pong"])
      const tool = await send(["--url", address, "--token", "tok", "--tool", "echo", "--args", "{\"hello\":\"world\"}"])
      assert.strictEqual(tool.code, 0)
      const events = tool.stdout.trim().split("\n").map((l) => JSON.parse(l))
      assert.strictEqual(events[0].type, "job.accepted")
      assert.deepStrictEqual(events.at(-1), {
        ...events.at(-1),
        type: "tool.result",
        payload: { value: { hello: "world" } }
      })
      const failing = await send([
        "--url",
        address,
        "--token",
        "tok",
        "--tool",
        "fail",
        "--args",
        "{\"code\":\"NOT_FOUND\"}"
      ])
      assert.strictEqual(failing.code, 1)
      const wrong = await send(["--url", address, "--token", "nope", "--type", "ping"])
      assert.strictEqual(wrong.code, 1)
    } finally {
      const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
      child.kill("SIGTERM")
      assert.strictEqual(await exited, 0)
    }
  }, 60_000)
})

describe("arcp serve --max-json-depth", () => {
  it.scopedLive(
    "R6.3-3 the flag sets the nesting limit (nack names it); a limit below 4 is refused, saying why",
    () =>
      Effect.gen(function*() {
        const { address, child } = yield* Effect.promise(() =>
          serve(["--bearer", "good-token=alice", "--max-json-depth", "8"])
        )
        yield* Effect.addFinalizer(() => Effect.sync(() => child.kill("SIGKILL")))
        const connection = yield* WebSocket.connect(address)
        const { read, sendRaw } = yield* rawSession(connection)
        const nested = (levels: number) => "[".repeat(levels) + "]".repeat(levels)
        yield* sendRaw({ id: "msg_ok", type: "ping", payload: { a: JSON.parse(nested(6)) } })
        assert.strictEqual((yield* read.next).type, "pong")
        yield* sendRaw({ id: "msg_deep", type: "ping", payload: { a: JSON.parse(nested(7)) } })
        const nack = yield* expectNack(read, "INVALID_ARGUMENT", "msg_deep")
        assert.match(String(field(nack, "message")), /deeper than 8 levels/)
        const refused = yield* Effect.promise(() =>
          new Promise<{ code: number | null; output: string }>((resolve) => {
            execFile(
              "node",
              [bin, "serve", "--db", ":memory:", "--max-json-depth", "2"],
              { cwd: root },
              (error, stdout, stderr) => {
                resolve({
                  code: error === null ? 0 : typeof error.code === "number" ? error.code : 1,
                  output: stdout + stderr
                })
              }
            )
          })
        )
        assert.notStrictEqual(refused.code, 0)
        assert.include(refused.output, "--max-json-depth (2) must be at least 4")
      }),
    60_000
  )
})

describe("arcp serve shutdown", () => {
  /** `arcp serve` on a free port, killed with the scope if still running; resolves once it prints its address. */
  const serveWs = Effect.gen(function*() {
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        spawn("node", [bin, "serve", "--port", "0", "--db", ":memory:", "--bearer", "tok=alice"], {
          cwd: root,
          stdio: ["ignore", "pipe", "pipe"]
        })
      ),
      (c) => Effect.sync(() => c.kill("SIGKILL"))
    )
    child.stderr.resume() // logs: drained, not read
    const address = yield* Effect.async<string, Error>((resume) => {
      let out = ""
      const onData = (chunk: Buffer) => {
        out += chunk.toString()
        const match = /serving on (ws:\/\/[^\s]+)/.exec(out)
        if (match?.[1] !== undefined) resume(Effect.succeed(match[1]))
      }
      const onExit = (code: number | null) => resume(Effect.fail(new Error(`serve exited early with ${code}: ${out}`)))
      child.stdout.on("data", onData)
      child.once("exit", onExit)
      return Effect.sync(() => {
        child.stdout.off("data", onData)
        child.off("exit", onExit)
      })
    })
    return { child, address }
  })

  it.scopedLive(
    "R8.5-1 R8.5-2 SIGTERM evicts connected sessions with session.evicted UNAVAILABLE before the socket closes, then exits 0",
    () =>
      Effect.gen(function*() {
        const { address, child } = yield* serveWs
        const exited = exitOf(child)
        const sessions = yield* Effect.forEach([1, 2], () =>
          Effect.flatMap(WebSocket.connect(address), (c) =>
            Client.connect(c, { credentials: { scheme: "bearer", token: "tok" } })))
        const evictions = yield* Effect.forEach(sessions, (s) =>
          Effect.flatMap(s.messages, (messages) =>
            Effect.fork(collectUntil(messages, (m) =>
              m.type === "session.evicted"))))
        child.kill("SIGTERM")
        for (const [i, session] of sessions.entries()) {
          const ended = yield* session.ended
          assert.deepStrictEqual([ended.reason, ended.code], ["Evicted", "UNAVAILABLE"])
          const fiber = evictions[i]
          const evicted = fiber === undefined ? undefined : (yield* Fiber.join(fiber)).at(-1)
          assert.deepStrictEqual(evicted?.payload, {
            reason: "UNAVAILABLE",
            message: "the runtime is shutting down",
            // the session may be taken back once the runtime is up again (§9)
            allow_resume: true
          })
        }
        assert.strictEqual(yield* exited, 0)
      }),
    60_000
  )

  it.scopedLive("R22-1 arcp serve --transport stdio exits 0 when its stdin closes", () =>
    Effect.gen(function*() {
      const child = yield* spawnServe(["--bearer", "tok=alice"])
      // a session first, so the server is surely serving when its input ends
      const session = yield* Client.connect(child.connection, { credentials: { scheme: "bearer", token: "tok" } })
      yield* session.ping
      child.process.stdin.end()
      assert.strictEqual(yield* child.exited, 0, child.stderr())
    }), 60_000)
})
