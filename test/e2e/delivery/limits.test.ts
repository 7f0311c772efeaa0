/** Load limits (issue 7 part 4): each refusal is RESOURCE_EXHAUSTED with the limit named, and the session carries on. */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import type { ArcpError } from "../../../src/protocol/Errors.js"
import { memory, open, serverLayer } from "../../support/Harness.js"

const codeOf = (result: Either.Either<unknown, ArcpError | { readonly _tag: string }>) =>
  Either.isLeft(result) && "code" in result.left ? result.left.code : undefined

describe("limits", () => {
  it.scoped("R8.5-1 R18.2-1 sessions past --max-sessions are rejected RESOURCE_EXHAUSTED; a freed slot is taken again", () =>
    Effect.gen(function*() {
      const first = yield* open()
      const refused = yield* Effect.either(Effect.scoped(open()))
      assert.strictEqual(codeOf(refused), "RESOURCE_EXHAUSTED")
      yield* first.ping // the session already open is untouched
      yield* first.close()
      yield* Effect.scoped(Effect.flatMap(open(), (session) => session.ping))
    }).pipe(Effect.provide(serverLayer({ transport: memory, runtime: { maxSessions: 1 } }))))

  it.scoped("R18.2-1 invokes past --max-jobs-per-session are refused RESOURCE_EXHAUSTED until a job ends", () =>
    Effect.gen(function*() {
      const session = yield* open()
      const running = yield* session.invoke("sleep", { ms: 60_000 })
      yield* session.invoke("echo", { n: 1 }).pipe(Effect.flatMap((job) => job.outcome), Effect.ignore)
      const refused = yield* Effect.either(session.invoke("echo", { n: 2 }))
      assert.strictEqual(codeOf(refused), "RESOURCE_EXHAUSTED")
      yield* session.ping
      yield* running.cancel()
      yield* Effect.ignore(running.outcome)
      const after = yield* session.invoke("echo", { n: 3 })
      assert.deepStrictEqual(yield* after.outcome, { n: 3 })
    }).pipe(Effect.provide(serverLayer({ transport: memory, runtime: { maxJobsPerSession: 1 } }))))

  it.scoped("R18.2-1 interrupts past --max-pending-human are refused RESOURCE_EXHAUSTED", () =>
    Effect.gen(function*() {
      const session = yield* open({ capabilities: { human_input: true } })
      const first = yield* session.invoke("sleep", { ms: 60_000 })
      const second = yield* session.invoke("sleep", { ms: 60_000 })
      yield* first.interrupt("first prompt")
      const refused = yield* Effect.either(second.interrupt("one too many"))
      assert.strictEqual(codeOf(refused), "RESOURCE_EXHAUSTED")
      yield* session.ping
    }).pipe(Effect.provide(serverLayer({ transport: memory, runtime: { maxPendingHuman: 1 } }))))
})
