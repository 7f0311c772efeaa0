/**
 * The runtime's work as Effect tracer spans (RFC §17.1): a span per received
 * command (its parent the sender's `trace_id`/`span_id`, else the session's
 * handshake), per job, per tool call and per log commit. Envelopes take their
 * ids from the span they are sent in (`Envelope.make`), so the wire and the
 * trace agree. Ended spans are also handed to the fiber's `SpanFeed`
 * listener, which turns them into `trace.span` messages for a session that
 * asked for them.
 */
import { Clock, Context, Effect, Exit, type Fiber, FiberMap, FiberRef, Option, Runtime, Tracer } from "effect"
import { mintSpanId } from "../../protocol/TraceContext.js"

/** Told about each span of this module that ends in a fiber where it is set (see `SpanFeed`). */
export type SpanListener = (
  span: Tracer.Span,
  endNanos: bigint,
  exit: Exit.Exit<unknown, unknown>
) => Effect.Effect<void>

/** The listener of the current fiber; inherited by the fibers it forks (a session's jobs). */
export const spanListener: FiberRef.FiberRef<Option.Option<SpanListener>> = FiberRef.unsafeMake(Option.none())

/** Where the span of a received message hangs: the sender's trace when it named one, else `fallback`. */
export const parentOf = (
  message: { readonly trace_id?: string | undefined; readonly span_id?: string | undefined },
  fallback: Tracer.AnySpan | undefined
): Tracer.AnySpan | undefined =>
  message.trace_id === undefined ? fallback : Tracer.externalSpan({
    traceId: message.trace_id,
    // a sender that named a trace but no span: a stand-in parent keeps the trace id
    spanId: message.span_id ?? mintSpanId(),
    sampled: true
  })

/**
 * Ends `span` and reports it to the fiber's listener. One step that reads the listener and the clock off
 * the fiber (a span per command, job and commit makes this hot: issue 12).
 */
export const endSpan = (span: Tracer.Span, exit: Exit.Exit<unknown, unknown>): Effect.Effect<void> =>
  Effect.withFiberRuntime((fiber) => {
    const end = Context.get(fiber.currentDefaultServices, Clock.Clock).unsafeCurrentTimeNanos()
    const listener = fiber.getFiberRef(spanListener)
    if (Option.isNone(listener)) {
      span.end(end, exit)
      return Effect.void
    }
    // the listener sees the span before it is ended, with the time it ends at
    return Effect.zipRight(listener.value(span, end, exit), Effect.sync(() => span.end(end, exit)))
  })

/**
 * Runs `effect` as the child operation `span` (already made) and ends it with the effect's outcome, the fiber's
 * context restored first. What `Effect.withParentSpan` + `Effect.onExit` do, in ~12 fiber steps instead of ~39
 * (`withParentSpan` is a `FiberRef.locally`, an acquire/use/release of its own, inside `onExit`'s mask): one
 * mask for both, the context swapped with one modify (issue 12: a span per command, job and inbound commit).
 */
export const within = (span: Tracer.Span) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.flatMap(
      FiberRef.getAndUpdate(FiberRef.currentContext, (context) => Context.add(context, Tracer.ParentSpan, span)),
      (before) => {
        const leave = <X, Y>(exit: Exit.Exit<X, Y>) =>
          Effect.zipRight(Effect.zipRight(FiberRef.set(FiberRef.currentContext, before), endSpan(span, exit)), exit)
        return Effect.matchCauseEffect(restore(effect), {
          onFailure: (cause) => leave(Exit.failCause(cause)),
          onSuccess: (value) => leave(Exit.succeed(value))
        })
      }
    )
  )

/**
 * `FiberMap.run` with `span` as the new fiber's parent span from its first step: set in the context it is forked
 * with, not swapped in and out by the fiber as `within` does (~20 fiber steps per job; issue 12). The fiber does
 * not end the span: its effect must (a job's exit handler does).
 */
export const runInSpan = <K, A>(
  fibers: FiberMap.FiberMap<K, A>,
  key: K,
  span: Tracer.Span,
  effect: Effect.Effect<A>
): Effect.Effect<Fiber.RuntimeFiber<A>> =>
  Effect.withFiberRuntime((parent) => {
    const fiber = Runtime.runFork(Runtime.make({
      context: Context.add(parent.currentContext, Tracer.ParentSpan, span),
      fiberRefs: parent.getFiberRefs(),
      runtimeFlags: Runtime.defaultRuntime.runtimeFlags
    }))(effect)
    FiberMap.unsafeSet(fibers, key, fiber, { interruptAs: parent.id() })
    return Effect.succeed(fiber)
  })

/** `effect` in a new span `name` (child of the current one, or of `options.parent`), reported when it ends. */
export const traced =
  (name: string, options: Tracer.SpanOptions = {}) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    // no stack trace per span: an Error per tool call would cost more than the call (a ticker's progress)
    Effect.flatMap(Effect.makeSpan(name, { captureStackTrace: false, ...options }), (span) => within(span)(effect))

/** Like `traced`, but only inside an existing trace: work with no parent (a background batch) is not traced. */
export const tracedIfParent =
  (name: string, attributes?: Record<string, unknown>) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    // the fiber's current span read in one step (`serviceOption` took four; this wraps every log commit)
    Effect.withFiberRuntime((fiber) => fiber.currentSpan === undefined ? effect : traced(name, { attributes })(effect))
