/**
 * `close()` completes when the other side has already gone: a runtime that answers `session.close` by
 * closing the socket without a word (as the RFC allows; the reference TypeScript SDK does), one that drops
 * the connection without even a close frame, and one killed with SIGKILL. Also `arcp send` exits.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import { execFile } from "node:child_process"
import { WebSocketServer } from "ws"
import * as ArcpClient from "../../src/client/ArcpClient.js"
import { connect } from "../../src/client/promise/Promise.js"
import { make } from "../../src/protocol/Envelope.js"
import { MessageId, SessionId } from "../../src/protocol/Ids.js"
import { bin, exitOf, root, serveWs } from "../support/Child.js"

type Ending = "close-frame" | "terminate"

/**
 * A minimal runtime on a real WebSocket: accepts any session, answers ping, and meets `session.close`
 * by hanging up without answering, politely (a close frame) or not (the TCP connection dropped).
 */
const rudeRuntime = (ending: Ending) =>
  new Promise<{ readonly url: string; readonly stop: () => void }>((resolve) => {
    const server = new WebSocketServer({ host: "127.0.0.1", port: 0 })
    const answer = (correlation: string, type: string, payload: unknown) =>
      JSON.stringify(Effect.runSync(make(type, payload, {
        correlation_id: MessageId.make(correlation),
        session_id: SessionId.make("sess_rude")
      })))
    server.on("connection", (socket) => {
      socket.on("message", (data) => {
        const message: { id: string; type: string } = JSON.parse(String(data))
        if (message.type === "session.open") {
          socket.send(answer(message.id, "session.accepted", {
            session_id: "sess_rude",
            runtime: { kind: "rude", version: "1.0.0" },
            capabilities: {},
            lease: { expires_at: "2099-01-01T00:00:00Z" }
          }))
        } else if (message.type === "ping") {
          socket.send(answer(message.id, "pong", { ack_for: message.id, received_at: new Date().toISOString() }))
        } else if (message.type === "session.close") {
          if (ending === "close-frame") socket.close()
          else socket.terminate()
        }
      })
    })
    server.on("listening", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      resolve({ url: `ws://127.0.0.1:${port}`, stop: () => server.close() })
    })
  })

const credentials = { scheme: "bearer", token: "t" } as const

describe("close() when the runtime has gone first", () => {
  for (const ending of ["close-frame", "terminate"] as const) {
    it(`the Promise session's close() completes when session.close is met by ${ending}`, async () => {
      const runtime = await rudeRuntime(ending)
      try {
        const session = await connect(runtime.url, { credentials })
        assert.isAtLeast(await session.ping(), 0)
        await session.close()
        // and again, now that the socket is gone
        await session.close()
      } finally {
        runtime.stop()
      }
    }, 30_000)

    it(`the Effect session's close() and scope complete when session.close is met by ${ending}`, async () => {
      const runtime = await rudeRuntime(ending)
      try {
        await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
          const session = yield* ArcpClient.connect(runtime.url, { credentials })
          yield* session.ping
          yield* session.close()
          const ended = yield* session.ended
          assert.include(["Closed", "Transport"], ended.reason)
        })))
      } finally {
        runtime.stop()
      }
    }, 30_000)
  }

  it("arcp send prints its answer and exits when the runtime hangs up on session.close", async () => {
    const runtime = await rudeRuntime("close-frame")
    try {
      const run = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
        execFile(
          "node",
          [bin, "send", "--url", runtime.url, "--token", "t", "--type", "ping"],
          {
            cwd: root,
            timeout: 30_000
          },
          (error, stdout) =>
            resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : -1, stdout })
        )
      })
      assert.strictEqual(run.code, 0)
      assert.strictEqual(JSON.parse(run.stdout).type, "pong")
    } finally {
      runtime.stop()
    }
  }, 60_000)

  it("close() completes after the runtime process was killed with SIGKILL; calls made after it reject", async () => {
    const { address, child } = await serveWs(["--db", ":memory:", "--bearer", "t=alice"])
    const session = await connect(address, { credentials })
    try {
      assert.isAtLeast(await session.ping(), 0)
      child.kill("SIGKILL")
      await Effect.runPromise(exitOf(child))
      const error = await session.ping().then(() => undefined, (e: unknown) => e)
      assert.instanceOf(error, Error)
      await session.close()
    } finally {
      child.kill("SIGKILL")
    }
  }, 60_000)

  it("the Effect scope closes after the runtime process was killed with SIGKILL", async () => {
    const { address, child } = await serveWs(["--db", ":memory:", "--bearer", "t=alice"])
    const scope = Effect.runSync(Scope.make())
    try {
      const session = await Effect.runPromise(Scope.extend(ArcpClient.connect(address, { credentials }), scope))
      await Effect.runPromise(session.ping)
      child.kill("SIGKILL")
      await Effect.runPromise(exitOf(child))
      await Effect.runPromise(session.ended)
      await Effect.runPromise(Scope.close(scope, Exit.void))
    } finally {
      child.kill("SIGKILL")
    }
  }, 60_000)
})
