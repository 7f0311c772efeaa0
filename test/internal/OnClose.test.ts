/**
 * A scope's closers share one finalizer: they run last registered first (callbacks and effects alike), one that
 * fails or throws does not stop the others and the close reports it, and one registered after the scope closed
 * runs at once.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Scope } from "effect"
import { onClose, onCloseOf } from "../../src/internal/OnClose.js"

describe("OnClose", () => {
  it.effect("closers run last registered first, callbacks and effects interleaved, around other finalizers", () =>
    Effect.gen(function*() {
      const ran: Array<string> = []
      const scope = yield* Scope.make()
      yield* Scope.addFinalizer(scope, Effect.sync(() => ran.push("before")))
      yield* onCloseOf(scope, () => {
        ran.push("a")
      })
      yield* onCloseOf(scope, Effect.sync(() => ran.push("b")))
      yield* onCloseOf(scope, () => {
        ran.push("c")
      })
      yield* onCloseOf(scope, () => {
        ran.push("d")
      })
      yield* Scope.close(scope, Exit.void)
      assert.deepStrictEqual(ran, ["d", "c", "b", "a", "before"])
    }))

  it.effect("a closer that throws or dies does not stop the others; the scope's close fails with both", () =>
    Effect.gen(function*() {
      const ran: Array<string> = []
      const scope = yield* Scope.make()
      yield* onCloseOf(scope, () => {
        ran.push("first")
      })
      yield* onCloseOf(scope, Effect.dieMessage("effect broke"))
      yield* onCloseOf(scope, () => {
        throw new Error("callback broke")
      })
      yield* onCloseOf(scope, () => {
        ran.push("last")
      })
      const exit = yield* Effect.exit(Scope.close(scope, Exit.void))
      assert.deepStrictEqual(ran, ["last", "first"])
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) {
        const messages = [...Cause.defects(exit.cause)].map((e) => e instanceof Error ? e.message : String(e))
        assert.deepStrictEqual(messages.sort(), ["callback broke", "effect broke"])
      }
    }))

  it.effect("a closer registered once the scope has closed runs at once", () =>
    Effect.gen(function*() {
      const ran: Array<string> = []
      const scope = yield* Scope.make()
      yield* onCloseOf(scope, () => {
        ran.push("early")
      })
      yield* Scope.close(scope, Exit.void)
      yield* onCloseOf(scope, () => {
        ran.push("late")
      })
      assert.deepStrictEqual(ran, ["early", "late"])
    }))

  it.effect("onClose uses the current scope", () =>
    Effect.gen(function*() {
      const ran: Array<number> = []
      yield* Effect.scoped(Effect.gen(function*() {
        yield* onClose(() => {
          ran.push(1)
        })
        yield* onClose(Effect.sync(() => ran.push(2)))
      }))
      assert.deepStrictEqual(ran, [2, 1])
    }))
})
