/**
 * §9: a durable session whose connection drops is recorded as let go (`detached`, resumable until its window
 * ends) when the connection's scope closes; one closed with `session.close` is recorded closed with its ack. The
 * session's end reads whether its record was committed when the connection ends, not when the session started
 * (it was read at the start once, so a dropped session stayed `attached`).
 */
import { assert, it } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import { make as makeEnvelope } from "../../../src/protocol/Envelope.js"
import * as Auth from "../../../src/runtime/auth/Auth.js"
import * as Runtime from "../../../src/runtime/Runtime.js"
import * as Tools from "../../../src/runtime/Tools.js"
import { EventLog } from "../../../src/store/EventLog.js"
import * as MemoryArtifactStore from "../../../src/store/MemoryArtifactStore.js"
import * as MemoryEventLog from "../../../src/store/MemoryEventLog.js"
import * as Memory from "../../../src/transport/Memory.js"
import { rawSession } from "../../support/CoreServer.js"
import { dial } from "../../support/Harness.js"

const server = Runtime.serve.pipe(
  Layer.provideMerge(Runtime.layer()),
  Layer.provide(Layer.mergeAll(
    Auth.layer({ audience: "arcp://runtime", bearer: new Map([["good-token", "alice"]]) }),
    Tools.layer([])
  )),
  Layer.provideMerge(Layer.mergeAll(MemoryEventLog.layer, MemoryArtifactStore.layer)),
  Layer.provideMerge(Memory.layer())
)

/** The session's record once it is no longer `attached` (the server's side of the close runs on its own fibers). */
const letGo = (sessionId: string) =>
  Effect.flatMap(EventLog, (log) =>
    log.getSession(sessionId).pipe(
      Effect.map(Option.getOrUndefined),
      Effect.tap(() => Effect.yieldNow()),
      Effect.repeat({ until: (record) => record !== undefined && record.state !== "attached", times: 10_000 })
    ))

it.scoped("R9-3 a dropped durable session is recorded detached, resumable until its window ends", () =>
  Effect.gen(function*() {
    const connection = yield* dial
    const { sessionId } = yield* rawSession(connection)
    const held = Option.getOrUndefined(yield* Effect.flatMap(EventLog, (log) => log.getSession(sessionId)))
    assert.strictEqual(held?.state, "attached")
    yield* connection.close
    const record = yield* letGo(sessionId)
    assert.strictEqual(record?.state, "detached")
    assert.isTrue((record?.resume_until ?? 0) > 0, "resumable until the window ends")
  }).pipe(Effect.provide(server)))

it.scoped("R9-3 R9-9 a session closed with session.close is recorded closed, not resumable", () =>
  Effect.gen(function*() {
    const connection = yield* dial
    const { read, send, sessionId } = yield* rawSession(connection)
    yield* send(makeEnvelope("session.close", {}))
    const ack = yield* read.next
    assert.strictEqual(ack.type, "ack")
    yield* connection.close
    const record = yield* letGo(sessionId)
    assert.strictEqual(record?.state, "closed")
  }).pipe(Effect.provide(server)))
