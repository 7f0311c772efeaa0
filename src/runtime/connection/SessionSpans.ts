/**
 * A connection's span feed (§17.1, tracing/SpanFeed): its session's spans sent as trace.span once it negotiates
 * them; for a session that did not, recorded only (not sent) while a subscription to trace.span lives (§13).
 */
import { type Context, Effect, Either, Ref } from "effect"
import { type HeaderOptions, make as makeEnvelope } from "../../protocol/Envelope.js"
import { type MessageType, type PayloadOf, tryEncode } from "../../protocol/Message.js"
import type { Recorder } from "../events/Recorder.js"
import type * as Handshake from "../Handshake.js"
import type * as Outbound from "../outbound/Outbound.js"
import * as SpanFeed from "../tracing/SpanFeed.js"
import type { SpanWatchers } from "../tracing/SpanWatchers.js"

export interface SessionSpansContext {
  readonly phase: Ref.Ref<Handshake.Phase>
  readonly outbound: Outbound.Outbound
  readonly recorder: Context.Tag.Service<typeof Recorder>
  readonly spanWatchers?: Context.Tag.Service<typeof SpanWatchers> | undefined
  /** Notes an envelope as recorded by this connection (connection/RecordedIds). */
  remember<A extends { readonly id: string }>(envelope: A): A
  /** Whose the session is, once the handshake knows. */
  principal(): string
}

/** The feed's outlets, read off the connection when a span ends: nothing kept per connection but this object. */
class SessionOutlets implements SpanFeed.Outlets {
  constructor(private readonly ctx: SessionSpansContext) {}

  emit<T extends MessageType>(type: T, payload: PayloadOf<T>, options?: HeaderOptions): Effect.Effect<void> {
    return this.ctx.outbound.emit(type, payload, options)
  }

  watched(): boolean | undefined {
    return this.ctx.spanWatchers?.watched()
  }

  record<T extends MessageType>(type: T, payload: PayloadOf<T>, options?: HeaderOptions): Effect.Effect<void> {
    const { ctx } = this
    return Effect.gen(function*() {
      const p = yield* Ref.get(ctx.phase)
      if (p._tag !== "Open") return
      const envelope = yield* makeEnvelope(type, payload, { ...options, session_id: p.session.id })
      const json = tryEncode(envelope)
      if (Either.isLeft(json)) return
      yield* ctx.recorder.record([
        { envelope: ctx.remember(envelope), sessionId: p.session.id, principal: ctx.principal(), json: json.right }
      ]).pipe(Effect.catchAll((e) => Effect.logWarning(`a span could not be recorded: ${e.message}`)))
    })
  }
}

export const make = (ctx: SessionSpansContext): SpanFeed.SpanFeed => SpanFeed.make(new SessionOutlets(ctx))
