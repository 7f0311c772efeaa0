/**
 * The client's requests awaiting their first correlated answer (§6.1): registered before sending,
 * settled by the reader, failed by one sweeper once overdue, and all failed when the session ends.
 */
import { Clock, Deferred, Duration, Effect, Exit, Fiber, FiberId, Option } from "effect"
import { withMillis } from "../../internal/Now.js"
import { type HeaderOptions, make as makeEnvelope } from "../../protocol/Envelope.js"
import type { ArcpError } from "../../protocol/Errors.js"
import type { MessageId } from "../../protocol/Ids.js"
import { type Decoded, encodeUnchecked, type MessageType, type PayloadOf } from "../../protocol/Message.js"
import { ClientError } from "../ClientApi.js"
import type { SessionState } from "./State.js"

type Answer = Deferred.Deferred<Decoded, ArcpError | ClientError>

export const make = (state: SessionState, timeout: Duration.Duration) => {
  const timeoutMillis = Duration.toMillis(timeout)
  const pending = new Map<string, { readonly answer: Answer; readonly deadline: number }>()

  /** The waiter for the answer correlated to `id`, taken off the registry; a plain call (the reader's hot path). */
  const take = (id: string): Answer | undefined => {
    const waiter = pending.get(id)
    if (waiter === undefined) return undefined
    pending.delete(id)
    return waiter.answer
  }

  /** A message that may answer a request: completes its waiter, if any, in place (no Effect of its own). */
  const settle = (message: Decoded, correlation: string): void => {
    const answer = take(correlation)
    if (answer !== undefined) Deferred.unsafeDone(answer, Exit.succeed(message))
  }

  /** Fails every request still waiting (the session ended). */
  const failAll = (error: ClientError) =>
    Effect.suspend(() => {
      const answers = Array.from(pending.values(), (p) => p.answer)
      pending.clear()
      return Effect.forEach(answers, (answer) => Deferred.fail(answer, error), { discard: true })
    })

  /**
   * One sweeper fails requests whose answer is overdue, rather than a timeout race per request:
   * that race forked two fibers and a timer per call, a fifth of the client's cost (bench/invoke).
   * A request fails between `timeout` and `timeout` plus one sweep interval after it was sent.
   */
  const sweepEvery = Duration.clamp(Duration.divide(timeout, 10).pipe(Option.getOrElse(() => Duration.seconds(1))), {
    minimum: Duration.millis(10),
    maximum: Duration.seconds(1)
  })
  const sweeper = Effect.gen(function*() {
    while (true) {
      yield* Effect.sleep(sweepEvery)
      const now = yield* Clock.currentTimeMillis
      for (const [id, request] of pending) {
        if (request.deadline > now) continue
        pending.delete(id)
        yield* Deferred.fail(
          request.answer,
          new ClientError({ reason: "Timeout", message: `no answer to ${id} within ${Duration.format(timeout)}` })
        )
      }
    }
  })

  /** Registers a request awaiting its answer (in one fiber step: every invoke makes one), and the wait. */
  const expect = (id: MessageId) =>
    withMillis((now) => {
      const answer = Deferred.unsafeMake<Decoded, ArcpError | ClientError>(FiberId.none)
      pending.set(id, { answer, deadline: now + timeoutMillis })
      return Effect.succeed(Deferred.await(answer).pipe(Effect.ensuring(Effect.sync(() => pending.delete(id)))))
    })

  /**
   * Sends a prepared envelope and waits for its first correlated answer (registered before sending);
   * `gated` false: at once, even while reconnecting (the new transport's handshake).
   */
  const sendAndAwait = Effect.fnUntraced(function*(envelope: Decoded, gated = true) {
    const answer = yield* expect(envelope.id)
    const text = encodeUnchecked(state.inSession(envelope))
    yield* gated ? state.sendFrame(text) : state.sendNow(text)
    return yield* answer
  })

  const request = <T extends MessageType>(type: T, payload: PayloadOf<T>, header: HeaderOptions = {}) =>
    Effect.flatMap(makeEnvelope(type, payload, header), (envelope) => sendAndAwait(envelope))

  /** Moves the deadline of a request still waiting. */
  const setDeadline = (id: string, deadline: number) => {
    const waiting = pending.get(id)
    if (waiting !== undefined) pending.set(id, { ...waiting, deadline })
  }

  /**
   * Sends `envelope`, then runs `during` (sidecar frames) while its answer may already come; the
   * answer's deadline starts once `during` is done, so a long upload is not cut short.
   */
  const exchange = Effect.fnUntraced(
    function*(envelope: Decoded, during: Effect.Effect<void, ArcpError | ClientError>) {
      const answer = yield* expect(envelope.id)
      setDeadline(envelope.id, Number.POSITIVE_INFINITY)
      yield* state.sendEnvelope(envelope)
      const sender = yield* Effect.fork(
        Effect.tap(
          during,
          () =>
            Effect.flatMap(
              Clock.currentTimeMillis,
              (now) => Effect.sync(() => setDeadline(envelope.id, now + timeoutMillis))
            )
        )
      )
      // a sender that fails first (its source, the socket) ends the wait with its own error
      const sent = Effect.flatMap(Fiber.join(sender), () => Effect.never)
      const reply = yield* Effect.raceFirst(answer, sent)
      yield* Fiber.interrupt(sender)
      return reply
    }
  )

  return { take, settle, failAll, sweeper, expect, sendAndAwait, request, exchange }
}

export type Requests = ReturnType<typeof make>
