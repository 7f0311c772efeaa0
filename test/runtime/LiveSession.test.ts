/**
 * A live session keeps its principal (issue 7): whatever an authenticator's
 * refresh challenge accepts, a re-authentication that names someone else is
 * refused UNAUTHENTICATED (the connection has the old principal cached, and
 * everything the session owns was granted to it).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Logger, LogLevel, Option, TestClock } from "effect"
import { make as makeEnvelope } from "../../src/protocol/Envelope.js"
import { SessionId } from "../../src/protocol/Ids.js"
import { encodeUnchecked } from "../../src/protocol/Message.js"
import { Authenticator } from "../../src/runtime/auth/Auth.js"
import * as Runtime from "../../src/runtime/Runtime.js"
import { Sessions } from "../../src/runtime/Sessions.js"
import * as Tools from "../../src/runtime/Tools.js"
import * as MemoryArtifactStore from "../../src/store/MemoryArtifactStore.js"
import * as MemoryEventLog from "../../src/store/MemoryEventLog.js"
import * as Memory from "../../src/transport/Memory.js"
import { rawSession } from "../support/CoreServer.js"
import { field } from "../support/Harness.js"

/** A lax authenticator: a bearer token is its principal, and a refresh answer names whoever it says. */
const lax = Layer.succeed(
  Authenticator,
  Authenticator.of({
    allowsAnonymous: false,
    begin: (offer) => Effect.succeed({ _tag: "Accept", principal: { id: offer.token ?? "?", scheme: "bearer" } }),
    refresh: () =>
      Effect.succeed(Option.some({
        type: "bearer_token",
        params: {},
        verify: (response) => Effect.succeed({ id: String(response), scheme: "bearer" as const })
      }))
  })
)

const server = Runtime.serve.pipe(
  Layer.provideMerge(Runtime.layer()),
  Layer.provide(Layer.mergeAll(lax, Tools.layer([]), MemoryEventLog.layer, MemoryArtifactStore.layer)),
  Layer.provideMerge(Memory.layer()),
  Layer.provide(Logger.minimumLogLevel(LogLevel.None))
)

/** Leases of 10 minutes, renewal asked 1 minute before the end, idle eviction after an hour. */
const leased = Runtime.serve.pipe(
  Layer.provideMerge(Runtime.layer({ sessionLease: "10 minutes", refreshDeadline: "1 minute", idleTimeout: "1 hour" })),
  Layer.provide(Layer.mergeAll(lax, Tools.layer([]), MemoryEventLog.layer, MemoryArtifactStore.layer)),
  Layer.provideMerge(Memory.layer()),
  Layer.provide(Logger.minimumLogLevel(LogLevel.None))
)

const refreshAnsweredAs = (principal: string) =>
  Effect.gen(function*() {
    const connection = yield* Effect.flatMap(Memory.MemoryNetwork, (n) => n.connect)
    const { accepted, read } = yield* rawSession(connection)
    const sessionId = SessionId.make(String(field(accepted, "session_id")))
    yield* Effect.flatMap(Sessions, (s) => s.refresh(sessionId, "policy"))
    const refresh = yield* read.next
    assert.strictEqual(refresh.type, "session.refresh")
    const answer = yield* makeEnvelope("session.authenticate", {
      challenge_id: String(field(refresh, "challenge_id")),
      response: principal
    }, { session_id: accepted.session_id })
    yield* connection.send(encodeUnchecked(answer))
    return yield* read.next
  })

describe("LiveSession re-authentication", () => {
  it.scoped("R8.4-2 the same principal is renewed with a fresh session.accepted", () =>
    Effect.gen(function*() {
      // rawSession opens with bearer token "good-token": the lax authenticator calls that principal "good-token"
      const answer = yield* refreshAnsweredAs("good-token")
      assert.strictEqual(answer.type, "session.accepted")
    }).pipe(Effect.provide(server)))

  it.scoped("R8.4-2 R9-5 a different principal is refused: session.evicted UNAUTHENTICATED, no session.accepted", () =>
    Effect.gen(function*() {
      const answer = yield* refreshAnsweredAs("mallory")
      assert.deepStrictEqual([answer.type, field(answer, "reason")], ["session.evicted", "UNAUTHENTICATED"])
      assert.include(String(field(answer, "message")), "different principal")
    }).pipe(Effect.provide(server)))

  it.scoped("R8.4-1 R8.4-2 one timer serves both deadlines: each renewed lease is asked for again before it ends", () =>
    Effect.gen(function*() {
      const connection = yield* Effect.flatMap(Memory.MemoryNetwork, (n) => n.connect)
      const { accepted, read } = yield* rawSession(connection)
      for (const round of [1, 2]) {
        // the lease ends 10 minutes after it was granted: renewal is asked 1 minute before
        yield* TestClock.adjust("9 minutes")
        const refresh = yield* read.next
        assert.deepStrictEqual([round, refresh.type, field(refresh, "reason")], [
          round,
          "session.refresh",
          "lease_expiring"
        ])
        const answer = yield* makeEnvelope("session.authenticate", {
          challenge_id: String(field(refresh, "challenge_id")),
          response: "good-token"
        }, { session_id: accepted.session_id })
        yield* connection.send(encodeUnchecked(answer))
        assert.strictEqual((yield* read.next).type, "session.accepted")
      }
    }).pipe(Effect.provide(leased)))
})
