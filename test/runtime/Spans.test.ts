/**
 * `Spans.within` (issue 12: one mask for the parent span and its end, in place of `Effect.withParentSpan` and
 * `Effect.onExit`): the effect runs as the span's child, the span ends once with the effect's exit whatever
 * it is, and the fiber's context is back to what it was before the listener hears of the end.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Option, type Tracer } from "effect"
import * as Spans from "../../src/runtime/tracing/Spans.js"

interface Ended {
  readonly name: string
  readonly exit: Exit.Exit<unknown, unknown>
  /** The fiber's current span when the listener ran. */
  readonly current: string | undefined
}

/** Runs `body` with a listener that records each span that ends. */
const listening = <A, E>(body: (ended: Array<Ended>) => Effect.Effect<A, E>) => {
  const ended: Array<Ended> = []
  const listener: Spans.SpanListener = (span: Tracer.Span, _end, exit) =>
    Effect.map(Effect.option(Effect.currentSpan), (current) => {
      ended.push({ name: span.name, exit, current: Option.getOrUndefined(current)?.name })
    })
  return body(ended).pipe(Effect.locally(Spans.spanListener, Option.some(listener)))
}

const spanName = Effect.map(Effect.option(Effect.currentSpan), (s) => Option.getOrUndefined(s)?.name)

describe("Spans.within", () => {
  it.effect("the effect runs in the span; it ends with the effect's value, the outer span current again", () =>
    listening((ended) =>
      Effect.gen(function*() {
        const inner = yield* spanName.pipe(Spans.traced("inner"))
        assert.strictEqual(inner, "inner")
        assert.strictEqual(yield* spanName, "outer")
        assert.deepStrictEqual(ended.map((e) => [e.name, e.current]), [["inner", "outer"]])
        assert.isTrue(Exit.isSuccess(ended[0]?.exit ?? Exit.fail("none")))
      }).pipe(Spans.traced("outer"))
    ))

  it.effect("a failure ends the span with the failure and still fails the caller", () =>
    listening((ended) =>
      Effect.gen(function*() {
        const outcome = yield* Effect.exit(Effect.fail("boom").pipe(Spans.traced("failing")))
        assert.deepStrictEqual(outcome, Exit.fail("boom"))
        assert.strictEqual(yield* spanName, undefined)
        assert.strictEqual(ended.length, 1)
        assert.deepStrictEqual(ended[0]?.exit, Exit.fail("boom"))
        assert.strictEqual(ended[0]?.current, undefined)
      })
    ))

  it.effect("an interrupted effect ends its span once, interrupted", () =>
    listening((ended) =>
      Effect.gen(function*() {
        const started = yield* Deferred.make<void>()
        const fiber = yield* Effect.fork(
          Deferred.succeed(started, undefined).pipe(Effect.zipRight(Effect.never), Spans.traced("waiting"))
        )
        yield* Deferred.await(started)
        yield* Fiber.interrupt(fiber)
        assert.deepStrictEqual(ended.map((e) => e.name), ["waiting"])
        const exit = ended[0]?.exit
        assert.isTrue(exit !== undefined && Exit.isInterrupted(exit))
      })
    ))
})
