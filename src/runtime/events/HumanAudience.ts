/**
 * Which human requests reached channels beyond their job's own session (RFC
 * §12.3): subscriptions note each request they deliver, so that the first
 * answer can be announced to the others and their stale prompts cleared.
 */
import { Context, Effect, Layer } from "effect"

export class HumanAudience extends Context.Tag("arcp/HumanAudience")<HumanAudience, {
  /** A subscription delivered the human request `requestId` to an observer. */
  readonly delivered: (requestId: string) => Effect.Effect<void>
  /** Whether any subscription delivered `requestId` (the request was fanned out). */
  readonly fannedOut: (requestId: string) => Effect.Effect<boolean>
}>() {}

/** How many request ids are remembered, oldest forgotten first (pending requests are far fewer). */
const REMEMBERED = 4096

export const make = Effect.sync(() => {
  const seen = new Set<string>()
  return HumanAudience.of({
    delivered: (requestId) =>
      Effect.sync(() => {
        seen.add(requestId)
        for (const oldest of seen) {
          if (seen.size <= REMEMBERED) break
          seen.delete(oldest)
        }
      }),
    fannedOut: (requestId) => Effect.sync(() => seen.has(requestId))
  })
})

export const layer: Layer.Layer<HumanAudience> = Layer.effect(HumanAudience, make)
