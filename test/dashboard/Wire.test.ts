/**
 * The dashboard's client against a scripted runtime over a real WebSocket on 127.0.0.1 (`ws` stands in for the
 * browser's WebSocket): a sign-in the runtime rejects as retryable (§18.3) is tried again with backoff, one it
 * rejects for good is not.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import { WebSocket as NodeWebSocket, WebSocketServer } from "ws"
import { type Status, Wire } from "../../src/dashboard/web/Wire.js"
import { make } from "../../src/protocol/Envelope.js"
import { ArcpError } from "../../src/protocol/Errors.js"
import { encode } from "../../src/protocol/Message.js"

/** A `session.rejected` as the runtime sends it (`retryable` filled from the code, as `toPayload` does). */
const rejection = (code: "DEADLINE_EXCEEDED" | "UNAUTHENTICATED", message: string): string => {
  const text = encode(Effect.runSync(make("session.rejected", ArcpError.of(code, message).toPayload())))
  if (Either.isLeft(text)) throw new Error(text.left.message)
  return text.right
}

describe("dashboard wire", () => {
  it("signs in again after a retryable rejection, and stops at a refusal", async () => {
    const server = new WebSocketServer({ host: "127.0.0.1", port: 0 })
    await new Promise((resolve) => server.once("listening", resolve))
    const { port } = server.address() as { port: number }
    // first connection: the handshake timed out on a busy runtime (sent unprompted, as Connection's timer does);
    // second: bad credentials
    let connections = 0
    server.on("connection", (socket) => {
      connections += 1
      const first = connections === 1
      socket.once("message", () => {
        socket.send(
          first
            ? rejection("DEADLINE_EXCEEDED", "the handshake did not complete in time")
            : rejection("UNAUTHENTICATED", "unknown token")
        )
        socket.close()
      })
    })
    const saved = Reflect.get(globalThis, "WebSocket")
    Reflect.set(globalThis, "WebSocket", NodeWebSocket)
    const statuses: Array<Status> = []
    const refused = new Promise<void>((resolve) => {
      const wire = new Wire(`ws://127.0.0.1:${port}`, { scheme: "bearer", token: "tok" }, {
        onStatus: (status) => {
          statuses.push(status)
          if (status.kind === "refused") resolve()
        },
        onMessage: () => {},
        onReady: () => {}
      })
      wire.start()
    })
    try {
      await refused
      // a refusal is final: no third attempt after the longest first backoffs
      await new Promise((resolve) => setTimeout(resolve, 1_200))
      assert.strictEqual(connections, 2)
      assert.deepStrictEqual(statuses.map((s) => s.kind), ["connecting", "retrying", "connecting", "refused"])
      const retrying = statuses[1]
      assert.strictEqual(
        retrying?.kind === "retrying" ? retrying.reason : undefined,
        "DEADLINE_EXCEEDED: the handshake did not complete in time"
      )
      const last = statuses[3]
      assert.include(last?.kind === "refused" ? last.reason : "", "unknown token")
    } finally {
      Reflect.set(globalThis, "WebSocket", saved)
      await new Promise((resolve) => server.close(resolve))
    }
  }, 15_000)
})
