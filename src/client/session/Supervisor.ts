/**
 * The reconnect supervisor of a client session (§18.3, §19): when the transport ends, the session ends;
 * or, once established and with a policy, it is redialled, taken back and resumed after the last
 * message seen, while application sends wait.
 */
import { Effect, Either, ExecutionStrategy, Exit, Fiber, Scope } from "effect"
import { make as makeEnvelope } from "../../protocol/Envelope.js"
import type { ArcpError } from "../../protocol/Errors.js"
import type { MessageId } from "../../protocol/Ids.js"
import type { Decoded } from "../../protocol/Message.js"
import type { Connection } from "../../transport/Transport.js"
import { ClientError } from "../ClientApi.js"
import { DEFAULT_POLICY, delayBefore, type ReconnectPolicy } from "../Reconnect.js"
import type { SessionState } from "./State.js"

/** What the supervisor needs of the session. */
export interface SupervisorDeps {
  readonly state: SessionState
  /** Reads a transport until it ends; why it ended. */
  readonly readFrom: (conn: Connection) => Effect.Effect<ClientError>
  /** The handshake on the current transport, past the reconnect latch. */
  readonly handshake: Effect.Effect<unknown, ArcpError | ClientError>
  /** Sends an envelope at once (past the latch) and waits for its answer. */
  readonly sendNowAndAwait: (envelope: Decoded) => Effect.Effect<Decoded, ArcpError | ClientError>
  /** Ends the session with `error`. */
  readonly end: (error: ClientError) => Effect.Effect<void>
  /** The reconnect policy; none: a dropped transport ends the session. */
  readonly policy: ReconnectPolicy | undefined
  /** Dials a new transport; none: a dropped transport ends the session. */
  readonly redial: Effect.Effect<Connection, unknown, Scope.Scope> | undefined
  /** The session's scope: the readers, and each redialled transport's own scope, live in it. */
  readonly sessionScope: Scope.Scope
}

/** Forks the reader of the current transport and the supervisor watching it, both in the session's scope. */
export const start = Effect.fnUntraced(function*(deps: SupervisorDeps) {
  const { end, policy, readFrom, redial, sessionScope, state } = deps
  // the reader of the first transport; `reconnect` replaces it when a redialled one takes over
  let reader = yield* Effect.forkIn(readFrom(state.current), sessionScope)

  /**
   * Takes the session back on a freshly dialled transport and resumes it after the last message
   * seen (§19): fails with the runtime's refusal (DATA_LOSS when it cannot replay from there).
   */
  const takeBack = Effect.fnUntraced(function*(after: MessageId | undefined) {
    yield* deps.handshake
    const resume = yield* makeEnvelope("resume", after === undefined ? {} : { after_message_id: after })
    state.resumeId = resume.id
    yield* deps.sendNowAndAwait(resume)
  })

  /** Dials until a transport takes the session back; the scope of the new transport, or why it gave up. */
  const reconnect = Effect.fnUntraced(
    function*(rules: ReconnectPolicy, dial: Effect.Effect<Connection, unknown, Scope.Scope>) {
      const attempts = Math.max(1, rules.attempts ?? DEFAULT_POLICY.attempts)
      let last = "the connection dropped"
      // the last message of the lost transport: later handshakes' answers are new messages, after what was missed
      const after = state.lastSeen
      for (let attempt = 1; attempt <= attempts && !state.closing; attempt++) {
        yield* Effect.sleep(yield* delayBefore(rules, attempt))
        const scope = yield* Scope.fork(sessionScope, ExecutionStrategy.sequential)
        const dialled = yield* Effect.either(Scope.extend(dial, scope))
        if (Either.isLeft(dialled)) {
          last = dialled.left instanceof Error ? dialled.left.message : String(dialled.left)
          yield* Scope.close(scope, Exit.void)
          continue
        }
        state.current = dialled.right
        const attemptReader = yield* Effect.forkIn(readFrom(state.current), sessionScope)
        reader = attemptReader
        // a transport that ends before it takes the session back (the runtime closed it: its handshake deadline
        // passed, it is shutting down) fails this attempt now, not when the handshake's request times out
        const resumed = yield* Effect.either(
          Effect.raceFirst(takeBack(after), Effect.flatMap(Fiber.join(attemptReader), Effect.fail))
        )
        if (Either.isRight(resumed)) {
          yield* Effect.logInfo(`reconnected and resumed session after ${attempt} attempt(s)`)
          return scope
        }
        yield* Scope.close(scope, Exit.void)
        const error = resumed.left
        // the runtime answered: it will not take the session back (DATA_LOSS, PERMISSION_DENIED...); an answer it
        // marks retryable (§18.3: RESOURCE_EXHAUSTED, UNAVAILABLE, a handshake past its deadline) is tried again
        if (error._tag === "ArcpError" && !error.isRetryable) {
          return yield* new ClientError({
            reason: error.code === "DATA_LOSS" ? "DataLoss" : "Closed",
            message: `cannot resume the session: ${error.message}`,
            code: error.code
          })
        }
        last = error.message
      }
      return yield* new ClientError({
        reason: "Transport",
        message: `the connection dropped and ${attempts} reconnection attempt(s) failed: ${last}`
      })
    }
  )

  yield* Effect.gen(function*() {
    // the scope of the redialled transport in use, closed when it drops in turn
    let held: Scope.CloseableScope | undefined
    while (true) {
      const reason = yield* Fiber.join(reader)
      if (!state.established || state.closing || !state.resumable || redial === undefined || policy === undefined) {
        return yield* end(reason)
      }
      yield* state.down
      if (held !== undefined) yield* Scope.close(held, Exit.void)
      yield* Effect.logInfo(`transport lost (${reason.message}); reconnecting`)
      const outcome = yield* Effect.either(reconnect(policy, redial))
      yield* state.back
      if (Either.isLeft(outcome)) return yield* end(outcome.left)
      held = outcome.right
    }
  }).pipe(Effect.forkIn(sessionScope))
})
