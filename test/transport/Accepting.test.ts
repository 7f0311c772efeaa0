/** How listening transports hand connections to the runtime (transport/internal/Accepting). */
import { assert, describe, it } from "@effect/vitest"
import { Context, Deferred, Effect, Fiber, Option, Stream, Tracer } from "effect"
import * as Accepting from "../../src/transport/internal/Accepting.js"
import type { Connection } from "../../src/transport/Transport.js"

class Unrelated extends Context.Tag("test/Unrelated")<Unrelated, string>() {}

const connectionOf = (label: string): Connection => ({
  label,
  binary: false,
  incoming: Stream.empty,
  send: () => Effect.void,
  close: Effect.void
})

describe("Accepting", () => {
  it.scoped("a connection's fiber runs with the caller's span but none of its services (each span and job copies them)", () =>
    Effect.gen(function*() {
      const accepting = yield* Accepting.make<string>({
        open: (raw) => Effect.succeed(connectionOf(raw)),
        refuse: () => {}
      })
      const seen = yield* Deferred.make<Context.Context<never>>()
      const span = yield* Effect.makeSpan("listener")
      const server = yield* accepting.run(() =>
        Effect.flatMap(Effect.context<never>(), (c) => Deferred.succeed(seen, c))
      ).pipe(
        Effect.provideService(Unrelated, "a service of the runtime's"),
        Effect.provideService(Tracer.ParentSpan, span),
        Effect.fork
      )
      accepting.offer("first")
      const context = yield* Deferred.await(seen)
      assert.strictEqual(context.unsafeMap.size, 1)
      assert.strictEqual(Context.unsafeGet(context, Tracer.ParentSpan), span)
      assert.isTrue(Option.isNone(Context.getOption(context, Unrelated)))
      yield* Fiber.interrupt(server)
    }))
})
