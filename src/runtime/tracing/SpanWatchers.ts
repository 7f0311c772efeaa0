/**
 * Who wants `trace.span` besides the sessions that negotiated it (RFC §13,
 * §17.1): the live subscriptions naming that type. While there is one, each
 * session's spans are recorded to the event log (not sent to the session)
 * so the subscription's feed carries them; with none, nothing is recorded
 * and tracing costs one counter read per span.
 */
import { Context, Effect, Layer, type Scope } from "effect"

/** The message type a subscription names in `filter.types` to be sent every observable session's spans. */
export const SPAN_TYPE = "trace.span"

export class SpanWatchers extends Context.Tag("arcp/SpanWatchers")<SpanWatchers, {
  /** True while at least one subscription to `trace.span` lives. */
  readonly watched: () => boolean
  /** Counts the caller as a watcher for the life of the scope. */
  readonly watch: Effect.Effect<void, never, Scope.Scope>
}>() {}

export const make = (): Context.Tag.Service<typeof SpanWatchers> => {
  let count = 0
  return SpanWatchers.of({
    watched: () => count > 0,
    watch: Effect.acquireRelease(
      Effect.sync(() => {
        count++
      }),
      () =>
        Effect.sync(() => {
          count--
        })
    )
  })
}

export const layer: Layer.Layer<SpanWatchers> = Layer.sync(SpanWatchers, make)
