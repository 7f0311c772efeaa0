/**
 * The narrower resumes of §19 over a real WebSocket on a real SQLite file: from a checkpoint, one job's
 * events, without open streams, several resumes on one connection, and (§8.5) a job of an evicted
 * session followed from a new session.
 */
import { assert, describe, it } from "@effect/vitest"
import { join } from "node:path"
import { stream, ticker } from "../../../src/cli/demoTools.js"
import { createServer, type CreateServerOptions } from "../../../src/client/promise/Promise.js"
import { RawWs, type Received } from "../../support/RawWs.js"
import { withTempDir } from "../../support/TempDir.js"

const withServer = (
  options: Partial<CreateServerOptions>,
  body: (url: string) => Promise<void>
) =>
  withTempDir("arcp-resume-scopes-", async (dir) => {
    const server = await createServer({
      port: 0,
      db: join(dir, "arcp.db"),
      logLevel: "none",
      auth: { bearer: new Map([["tok-a", "alice"], ["tok-b", "bob"]]) },
      tools: [ticker, stream],
      ...options
    })
    try {
      await body(server.address)
    } finally {
      await server.close()
    }
  })

/** Sends `resume` and waits for its answer (ack or nack); returns the answer and where the replay starts. */
const resumeOn = async (ws: RawWs, sessionId: string, payload: Record<string, unknown>, jobId?: string) => {
  const id = ws.send("resume", payload, { session_id: sessionId, ...(jobId === undefined ? {} : { job_id: jobId }) })
  const answer = await ws.next((m) => m.correlation_id === id)
  return { answer, from: ws.received.indexOf(answer) + 1 }
}

const tickOf = (m: Received) => Number(m.payload.current)

describe("narrower resumes over a real WebSocket", () => {
  it(
    "R19-2 R19-3 R6.4-7 resume {checkpoint_id} replays from right after that checkpoint, every envelope identical to the original (ids, timestamps, correlation and causation ids); an unknown checkpoint is DATA_LOSS",
    async () => {
      await withServer({}, async (url) => {
        const first = await RawWs.open(url)
        const sessionId = String((await first.handshake("tok-a")).payload.session_id)
        const invoke = first.send("tool.invoke", { tool: "ticker", arguments: { count: 6 } }, { session_id: sessionId })
        await first.next((m) => m.type === "tool.result" && m.correlation_id === invoke)
        const third = first.received.findIndex((m) =>
          m.type === "job.checkpoint" && m.payload.snapshot !== undefined &&
          JSON.stringify(m.payload.snapshot) === JSON.stringify({ current: 3 })
        )
        const checkpoint = first.received[third]
        assert.isDefined(checkpoint)
        first.terminate()
        await first.closed

        const second = await RawWs.open(url)
        assert.strictEqual((await second.handshake("tok-a", sessionId)).type, "session.accepted")
        const unknown = await resumeOn(second, sessionId, { checkpoint_id: "chk_01JZZZZZZZZZZZZZZZZZZZZZZZ" })
        assert.deepStrictEqual([unknown.answer.type, unknown.answer.payload.code], ["nack", "DATA_LOSS"])
        const { answer, from } = await resumeOn(second, sessionId, { checkpoint_id: checkpoint?.payload.checkpoint_id })
        assert.strictEqual(answer.type, "ack")
        await second.next((m) => m.type === "tool.result" && m.correlation_id === invoke, from)
        const replayed = second.received.slice(from)
        const originals = first.received.slice(third + 1)
        assert.deepStrictEqual(replayed, originals, "the same envelopes, field for field, in the same order")
        assert.deepStrictEqual(replayed.filter((m) => m.type === "job.progress").map(tickOf), [4, 5, 6])
        assert.isTrue(replayed.some((m) => m.causation_id !== undefined), "causation ids are carried over")
        second.close()
      })
    },
    60_000
  )

  it(
    "R19-2 R19-3 resume {job_id} replays one job only; include_open_streams false leaves its streams out; resumes on one connection may not overlap (FAILED_PRECONDITION)",
    async () => {
      await withServer({}, async (url) => {
        const first = await RawWs.open(url)
        const accepted = await first.handshake("tok-a")
        const sessionId = String(accepted.payload.session_id)
        const tick = first.send("tool.invoke", { tool: "ticker", arguments: { count: 4 } }, { session_id: sessionId })
        const text = first.send(
          "tool.invoke",
          { tool: "stream", arguments: { kind: "text", chunks: ["a", "b", "c"] } },
          {
            session_id: sessionId
          }
        )
        const tickResult = await first.next((m) => m.type === "tool.result" && m.correlation_id === tick)
        const textResult = await first.next((m) => m.type === "tool.result" && m.correlation_id === text)
        const tickJob = String(tickResult.job_id)
        const textJob = String(textResult.job_id)
        assert.isTrue(first.received.some((m) => m.job_id === textJob && m.stream_id !== undefined), "it streamed")
        first.terminate()
        await first.closed

        const second = await RawWs.open(url)
        assert.strictEqual((await second.handshake("tok-a", sessionId)).type, "session.accepted")
        const ticks = await resumeOn(second, sessionId, { after_message_id: accepted.id }, tickJob)
        assert.strictEqual(ticks.answer.type, "ack")
        await second.next((m) => m.correlation_id === tick && m.type === "tool.result", ticks.from)
        const again = await resumeOn(second, sessionId, { after_message_id: accepted.id }, tickJob)
        assert.deepStrictEqual([again.answer.type, again.answer.payload.code], ["nack", "FAILED_PRECONDITION"])
        const texts = await resumeOn(
          second,
          sessionId,
          { after_message_id: accepted.id, include_open_streams: false },
          textJob
        )
        assert.strictEqual(texts.answer.type, "ack")
        await second.next((m) => m.correlation_id === text && m.type === "tool.result", texts.from)
        const whole = await resumeOn(second, sessionId, { after_message_id: accepted.id })
        assert.deepStrictEqual([whole.answer.type, whole.answer.payload.code], ["nack", "FAILED_PRECONDITION"])

        const tickReplay = second.received.slice(ticks.from, second.received.indexOf(again.answer))
        assert.deepStrictEqual(tickReplay, first.received.filter((m) => m.job_id === tickJob), "the ticker's, only")
        const textReplay = second.received.slice(texts.from, second.received.indexOf(whole.answer))
        assert.deepStrictEqual(
          textReplay,
          first.received.filter((m) => m.job_id === textJob && m.stream_id === undefined),
          "the stream job's own events, its stream's left out"
        )
        second.close()
      })
    },
    60_000
  )

  it(
    "R8.5-3 a job of a session evicted for good (UNAUTHENTICATED) is resumed under a new session: the rest of its events, each once; another principal gets NOT_FOUND",
    async () => {
      await withServer({ sessionLease: "2 seconds", refreshDeadline: "1 second" }, async (url) => {
        const first = await RawWs.open(url)
        const sessionId = String((await first.handshake("tok-a")).payload.session_id)
        // the raw client never answers session.refresh: its session is evicted at the end of its lease (the
        // new session below too, but the job is done by then)
        const invoke = first.send("tool.invoke", { tool: "ticker", arguments: { count: 60, interval_ms: 50 } }, {
          session_id: sessionId
        })
        const evicted = await first.next((m) => m.type === "session.evicted")
        assert.deepStrictEqual([evicted.payload.reason, evicted.payload.allow_resume], ["UNAUTHENTICATED", false])
        await first.closed
        const seen = first.received.filter((m) => m.type !== "session.evicted" && m.type !== "session.refresh")
        const last = seen[seen.length - 1]
        const jobId = String(first.received.find((m) => m.type === "job.accepted")?.job_id)
        assert.isBelow(first.received.filter((m) => m.type === "job.progress").length, 60, "evicted mid-job")

        const bob = await RawWs.open(url)
        const bobSession = String((await bob.handshake("tok-b")).payload.session_id)
        const refused = await resumeOn(bob, bobSession, { after_message_id: last?.id }, jobId)
        assert.deepStrictEqual([refused.answer.type, refused.answer.payload.code], ["nack", "NOT_FOUND"])
        bob.close()

        const second = await RawWs.open(url)
        const fresh = String((await second.handshake("tok-a")).payload.session_id)
        assert.notStrictEqual(fresh, sessionId, "a new session")
        const { answer, from } = await resumeOn(second, fresh, { after_message_id: last?.id }, jobId)
        assert.strictEqual(answer.type, "ack")
        const result = await second.next((m) => m.type === "tool.result" && m.correlation_id === invoke, from)
        assert.deepStrictEqual(result.payload.value, { count: 60 })
        // (its own lease runs out too: session.refresh is not part of the job)
        const followed = second.received.slice(from).filter((m) => !m.type.startsWith("session."))
        assert.isTrue(followed.every((m) => m.session_id === fresh && m.job_id === jobId), "re-addressed to it")
        const all = [...first.received, ...followed]
        const ids = all.map((m) => m.id)
        assert.deepStrictEqual(
          all.filter((m, i) => ids.indexOf(m.id) !== i).map((m) => m.type),
          [],
          "no envelope twice"
        )
        const ticks = all.filter((m) => m.type === "job.progress").map(tickOf)
        assert.deepStrictEqual(ticks, Array.from({ length: 60 }, (_, i) => i + 1), "every tick once, in order")
        second.close()
      })
    },
    60_000
  )
})
