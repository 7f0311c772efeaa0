/**
 * Nothing crosses principals (issue 7): two principals, alice and bob, on one
 * runtime over a real WebSocket with the SQLite event log. Every read path a
 * client can reach — a duplicate message id, a repeated idempotency key,
 * cancel (jobs and streams), interrupt, a human input answer — shows bob
 * nothing of alice's and lets him touch nothing of hers.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, type Layer, type Scope } from "effect"
import { join } from "node:path"
import * as Client from "../../../src/client/Client.js"
import { make as makeEnvelope } from "../../../src/protocol/Envelope.js"
import { type Decoded, encodeUnchecked } from "../../../src/protocol/Message.js"
import * as Tools from "../../../src/runtime/Tools.js"
import * as SqliteEventLog from "../../../src/store/SqliteEventLog.js"
import { collectUntil, dial, field, serverLayer, TOKEN, untilPong, webSocket } from "../../support/Harness.js"
import { tempDir } from "../../support/TempDir.js"

const BOB_TOKEN = "other-token"
const terminal = (m: Decoded) => Client.terminalTypes.has(m.type)

/** A tool that asks its principal a question and returns the answer. */
const ask = Tools.make({
  name: "ask",
  parameters: Tools.AnyArguments,
  handler: (_, ctx) =>
    ctx.askHuman({
      prompt: "Which branch?",
      responseSchema: { type: "object", properties: { branch: { type: "string" } }, required: ["branch"] },
      expiresInSeconds: 600
    })
})

/** Runs `body` against a WebSocket server on a fresh SQLite file. */
const withServer = <A, E>(
  body: Effect.Effect<A, E, Scope.Scope | Layer.Layer.Success<ReturnType<typeof serverLayer>>>
) =>
  Effect.gen(function*() {
    const dir = yield* tempDir("arcp-principals-")
    const eventLog = SqliteEventLog.layer({ filename: join(dir, "events.db") })
    return yield* body.pipe(Effect.provide(serverLayer({ transport: webSocket, eventLog, tools: [ask] })))
  })

/** A session of the principal of `token`, whose frames are sent exactly as given (ids included). */
const sessionAs = (token: string) =>
  Effect.gen(function*() {
    const connection = yield* dial
    const session = yield* Client.connect(connection, {
      credentials: { scheme: "bearer", token },
      capabilities: { human_input: true }
    })
    const messages = yield* session.messages
    return {
      session,
      messages,
      sendRaw: (envelope: Decoded) => connection.send(encodeUnchecked({ ...envelope, session_id: session.id }))
    }
  })

/** Answers that echo what the asker named (cancel.refused names the target it was given). */
const echoes = new Set(["cancel.refused", "nack"])

/** Nothing of another principal's job reached these messages: no job id, no job event, not the secret. */
const assertNothingOf = (seen: ReadonlyArray<Decoded>, jobId: string | undefined) => {
  assert.isDefined(jobId)
  for (const m of seen) {
    assert.notStrictEqual(m.job_id, jobId, `${m.type} of the other principal's job`)
    assert.notInclude(JSON.stringify(m), "secret", `${m.type} carries the other principal's data`)
    if (!echoes.has(m.type)) assert.notInclude(JSON.stringify(m), jobId ?? "", `${m.type} names the other's job`)
  }
}

describe("two principals", () => {
  it.scopedLive("R6.4-2 R6.1.1-2 a message id alice used, sent twice by bob, replays only bob's own answers (the ended job)", () =>
    withServer(Effect.gen(function*() {
      const alice = yield* sessionAs(TOKEN)
      const bob = yield* sessionAs(BOB_TOKEN)
      const invoke = yield* makeEnvelope("tool.invoke", { tool: "echo", arguments: { secret: 1 } })
      yield* alice.sendRaw(invoke)
      const aliceSaw = yield* collectUntil(alice.messages, terminal)
      const jobId = aliceSaw.find((m) => m.type === "job.accepted")?.job_id
      assert.deepStrictEqual(field(aliceSaw.at(-1), "value"), { secret: 1 })
      // bob reuses alice's id: new for him (answered), then a duplicate (replayed)
      const ping = { ...(yield* makeEnvelope("ping", {})), id: invoke.id }
      yield* bob.sendRaw(ping)
      const answered = yield* collectUntil(bob.messages, (m) => m.correlation_id === invoke.id)
      yield* bob.sendRaw(ping)
      const bobSaw = [...answered, ...(yield* untilPong(bob.session, bob.messages))]
      const answers = bobSaw.filter((m) => m.correlation_id === invoke.id)
      assert.deepStrictEqual(answers.map((m) => m.type), ["pong", "pong"])
      assert.strictEqual(answers[0]?.id, answers[1]?.id, "the replay is bob's own pong, same id")
      assertNothingOf(bobSaw, jobId)
    })))

  it.scopedLive("R6.4-2 the same with alice's job still running: bob gets none of its events, now or later", () =>
    withServer(Effect.gen(function*() {
      const alice = yield* sessionAs(TOKEN)
      const bob = yield* sessionAs(BOB_TOKEN)
      const invoke = yield* makeEnvelope("tool.invoke", {
        tool: "ticker",
        arguments: { count: 6, interval_ms: 40 }
      })
      yield* alice.sendRaw(invoke)
      const first = yield* collectUntil(alice.messages, (m) => m.type === "job.progress")
      const jobId = first.at(-1)?.job_id
      // bob repeats the id as an invoke of his own, twice: his own job, then its replay
      const bobInvoke = {
        ...(yield* makeEnvelope("tool.invoke", { tool: "echo", arguments: { mine: true } })),
        id: invoke.id
      }
      yield* bob.sendRaw(bobInvoke)
      const bobFirst = yield* collectUntil(bob.messages, terminal)
      yield* bob.sendRaw(bobInvoke)
      const bobReplay = yield* collectUntil(bob.messages, terminal)
      // alice's job runs to its end while bob is connected: he must not have been attached to it
      const rest = yield* collectUntil(alice.messages, terminal)
      assert.strictEqual(rest.at(-1)?.type, "tool.result")
      assert.deepStrictEqual(field(rest.at(-1), "value"), { count: 6 })
      assert.strictEqual(bobReplay.at(-1)?.id, bobFirst.at(-1)?.id, "the replay is bob's own result, same id")
      const bobSaw = [...bobFirst, ...bobReplay, ...(yield* untilPong(bob.session, bob.messages))]
      const bobJobs = new Set(bobSaw.filter((m) => m.type === "job.accepted").map((m) => m.job_id))
      assert.strictEqual(bobJobs.size, 1, "bob's invoke ran once, as his own job")
      assert.deepStrictEqual(field(bobFirst.at(-1), "value"), { mine: true })
      assertNothingOf(bobSaw, jobId)
    })))

  it.scopedLive("R6.4-5 an idempotency key alice holds is a fresh key for bob (ended and running jobs)", () =>
    withServer(Effect.gen(function*() {
      const alice = yield* sessionAs(TOKEN)
      const bob = yield* sessionAs(BOB_TOKEN)
      const ended = yield* alice.session.invoke("echo", { secret: 1 }, { idempotency_key: "k-ended" })
      assert.deepStrictEqual(yield* ended.outcome, { secret: 1 })
      const running = yield* alice.session.invoke("sleep", { ms: 60_000 }, { idempotency_key: "k-running" })
      for (const key of ["k-ended", "k-running"]) {
        const mine = yield* bob.session.invoke("echo", { mine: key }, { idempotency_key: key })
        assert.notStrictEqual(mine.jobId, ended.jobId)
        assert.notStrictEqual(mine.jobId, running.jobId)
        assert.deepStrictEqual(yield* mine.outcome, { mine: key })
      }
      const bobSaw = yield* untilPong(bob.session, bob.messages)
      assertNothingOf(bobSaw, ended.jobId)
      assertNothingOf(bobSaw, running.jobId)
      // alice's running job was neither touched nor shared
      assert.strictEqual(field(yield* running.cancel(), "target_id"), running.jobId)
    })))

  it.scopedLive("R10.4-8 bob cannot cancel or interrupt alice's job, nor cancel her stream: not_found, as for no such job", () =>
    withServer(Effect.gen(function*() {
      const alice = yield* sessionAs(TOKEN)
      const bob = yield* sessionAs(BOB_TOKEN)
      const job = yield* alice.session.invoke("stream", { chunks: 10_000, interval_ms: 20 })
      const opened = yield* collectUntil(alice.messages, (m) => m.type === "stream.open")
      const streamId = opened.at(-1)?.stream_id ?? ""
      const cancelJob = yield* bob.session.request("cancel", { target: "job", target_id: job.jobId })
      assert.deepStrictEqual([cancelJob.type, field(cancelJob, "reason")], ["cancel.refused", "not_found"])
      const cancelStream = yield* bob.session.request("cancel", { target: "stream", target_id: streamId })
      assert.deepStrictEqual([cancelStream.type, field(cancelStream, "reason")], ["cancel.refused", "not_found"])
      const interrupt = yield* Effect.flip(bob.session.request("interrupt", { target: "job", target_id: job.jobId }))
      assert.strictEqual(interrupt._tag === "ArcpError" ? interrupt.code : interrupt._tag, "NOT_FOUND")
      // the job and its stream run on untouched: alice still sees chunks, then ends it herself
      const more = yield* collectUntil(alice.messages, (m) => m.type === "stream.chunk")
      assert.strictEqual(more.at(-1)?.stream_id, streamId)
      assert.isFalse(more.some((m) => m.type === "human.input.request" || m.type === "stream.error"))
      assert.strictEqual((yield* job.cancel()).type, "cancel.accepted")
      yield* collectUntil(alice.messages, terminal)
      // once it ended, bob still learns nothing (alice would hear already_terminal)
      const late = yield* bob.session.request("cancel", { target: "job", target_id: job.jobId })
      assert.strictEqual(field(late, "reason"), "not_found")
      const own = yield* alice.session.request("cancel", { target: "job", target_id: job.jobId })
      assert.strictEqual(field(own, "reason"), "already_terminal")
      assertNothingOf(yield* untilPong(bob.session, bob.messages), job.jobId)
    })))

  it.scopedLive("R12.3-1 bob cannot answer alice's human input request, before or after she answered", () =>
    withServer(Effect.gen(function*() {
      const alice = yield* sessionAs(TOKEN)
      const bob = yield* sessionAs(BOB_TOKEN)
      const job = yield* alice.session.invoke("ask", {})
      const asked = yield* collectUntil(alice.messages, (m) => m.type === "human.input.request")
      const requestId = asked.at(-1)?.id
      assert.isDefined(requestId)
      if (requestId === undefined) return
      const before = yield* Effect.flip(bob.session.respond(requestId, { branch: "bob's" }))
      assert.strictEqual(before._tag === "ArcpError" ? before.code : before._tag, "NOT_FOUND")
      yield* alice.session.respond(requestId, { branch: "alice's" })
      assert.deepStrictEqual(yield* job.outcome, { branch: "alice's" })
      // a settled request is not confirmed to bob either (alice's late answer is ignored, bob's not found)
      const after = yield* Effect.flip(bob.session.respond(requestId, { branch: "bob's" }))
      assert.strictEqual(after._tag === "ArcpError" ? after.code : after._tag, "NOT_FOUND")
      yield* alice.session.respond(requestId, { branch: "late" })
      assertNothingOf(yield* untilPong(bob.session, bob.messages), job.jobId)
    })))
})
