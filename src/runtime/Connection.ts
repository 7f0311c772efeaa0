/**
 * The per-connection loop: decode each frame once, gate it on the handshake
 * (§8.1), apply the unknown-type rules (§21.3), route it, and answer every bad
 * frame with a nack while the session carries on. Its parts live in connection/:
 * what it is given (Dependencies), how frames are taken (Frames), the open session's messages
 * (AcceptedMessages), refusals (Nacks), the span feed (SessionSpans) and the envelopes it recorded (RecordedIds).
 */
import type { Fiber } from "effect"
import {
  Cause,
  Clock,
  Duration,
  Effect,
  FiberRef,
  type FiberRefs,
  HashMap,
  Option,
  Ref,
  Scope,
  type Tracer
} from "effect"
import { onCloseOf } from "../internal/OnClose.js"
import { forkWithFiberRefs } from "../internal/WithFiberRefs.js"
import { ArcpError } from "../protocol/Errors.js"
import { type Decoded, isCore } from "../protocol/Message.js"
import type { Connection, Incoming } from "../transport/Transport.js"
import * as Sidecar from "./artifacts/Sidecar.js"
import * as AcceptedMessages from "./connection/AcceptedMessages.js"
import * as Frames from "./connection/Frames.js"
import { outboundOptions, type Source } from "./connection/OutboundOptions.js"
import { Reading } from "./connection/Reading.js"
import * as RecordedIds from "./connection/RecordedIds.js"
import { sessionOwner } from "./connection/SessionOwner.js"
import * as SessionSpans from "./connection/SessionSpans.js"
import { committed } from "./events/Relayed.js"
import * as Handshake from "./Handshake.js"
import type { Owner } from "./jobs/Job.js"
import type { LiveSession } from "./LiveSession.js"
import * as Outbound from "./outbound/Outbound.js"
import { type SpanFeed, TRACE_EXTENSION } from "./tracing/SpanFeed.js"
import * as Spans from "./tracing/Spans.js"

import type { Dependencies } from "./connection/Dependencies.js"

export type { Dependencies }

/** How long closing waits for the peer to take what is queued before the socket is closed anyway. */
const CLOSE_GRACE = Duration.seconds(5)
const graceMs = Duration.toMillis(CLOSE_GRACE)
/** Serves one connection until it closes; never fails (a bad session must not take the runtime down). */
export const serve = (deps: Dependencies, connection: Connection): Effect.Effect<void> => {
  // on a fiber of its own the connection's scope is the transport's (closed once the connection's last fiber ends),
  // else one of its own
  const { scope } = connection
  return (connection.ownFiber === true && scope !== undefined
    ? Effect.flatten(setUp(deps, connection, scope))
    : Effect.scoped(Effect.flatMap(Effect.scope, (made) => Effect.flatten(setUp(deps, connection, made))))).pipe(
      // an interruption is how a connection read on its own fiber is ended from elsewhere: not a failure
      Effect.catchAllCause((cause) =>
        Cause.isInterruptedOnly(cause) ? Effect.void : Effect.logError(`connection ${connection.label} failed`, cause)
      )
    )
}

/** Where the connection's span listener sends, once the connection's parts exist. */
interface Relay {
  feed: SpanFeed | undefined
}

const relayTo = (relay: Relay): Spans.SpanListener => (span, end, exit) =>
  relay.feed === undefined ? Effect.void : relay.feed.listener(span, end, exit)

/**
 * Builds the connection's parts, and returns what is left to run: the read loop. The fiber refs its parts run with
 * (the connection's log annotation and span listener) are taken outside any `Scope.extend`: a snapshot taken inside
 * one held a copy of the runtime's whole service Context with the scope added (~1.1 KB per idle session, issue 12).
 */
const setUp = Effect.fnUntraced(function*(
  deps: Dependencies,
  connection: Connection,
  scope: Scope.Scope
) {
  // set before anything copies the fiber's refs so all share one, and restored by one closer as the scope closes
  // (not `annotateLogs` frames, issue 12)
  const annotations = yield* FiberRef.get(FiberRef.currentLogAnnotations)
  const listener = yield* FiberRef.get(Spans.spanListener)
  const relay: Relay = { feed: undefined }
  yield* FiberRef.set(FiberRef.currentLogAnnotations, HashMap.set(annotations, "connection", connection.label))
  yield* FiberRef.set(Spans.spanListener, Option.some(relayTo(relay)))
  yield* onCloseOf(
    scope,
    Effect.zipRight(
      FiberRef.set(FiberRef.currentLogAnnotations, annotations),
      FiberRef.set(Spans.spanListener, listener)
    )
  )
  // on a fiber of its own with `receive`, the connection is read on this fiber: one fiber per connection, not two
  const reader = connection.ownFiber === true && connection.receive !== undefined
    ? yield* Effect.withFiberRuntime<Fiber.RuntimeFiber<unknown, unknown>>(Effect.succeed)
    : undefined
  const served = new Served(deps, connection, scope, yield* Effect.getFiberRefs, reader)
  relay.feed = served.feed
  yield* served.start(yield* Clock.currentTimeMillis)
  return served.reading()
})

/**
 * One connection's state in fields and its steps as prototype methods whose effects are built per call: an idle
 * connection keeps this object and the parts it made (its outbound path, sidecar, span feed), not the closures of a
 * set-up generator, its context and the effects they were built into (issue 12).
 */
class Served extends Reading
  implements Frames.FrameContext, AcceptedMessages.AcceptedContext, SessionSpans.SessionSpansContext, Source
{
  readonly settings: Dependencies["settings"]
  readonly log: Dependencies["log"]
  readonly jobs: Dependencies["jobs"]
  readonly routes: Dependencies["routes"]
  readonly extensionRoutes: Dependencies["extensionRoutes"]
  readonly extensions: Dependencies["extensions"]
  readonly recorder: Dependencies["recorder"]
  readonly spanWatchers: Dependencies["spanWatchers"]
  readonly phase: Ref.Ref<Handshake.Phase> = Ref.unsafeMake<Handshake.Phase>({ _tag: "AwaitingOpen" })
  readonly outbound: Outbound.Owned
  readonly sidecar: Sidecar.Sidecar
  // §17.1: the session's spans as trace.span, or recorded only for a subscription to them (connection/SessionSpans)
  readonly feed: SpanFeed
  // the envelopes this connection recorded: a resume's follower skips them (§19); as many as its buffer holds
  private readonly recorded: RecordedIds.RecordedIds
  // whose the session is, once the handshake knows: published envelopes carry it (visibility)
  private principalId = ""
  /** The handshake's span: messages that name no trace of their own join the session's trace. */
  private handshakeSpan: Tracer.AnySpan | undefined = undefined
  private owner: Owner | undefined = undefined
  private closeOnce: Effect.Effect<void> | undefined = undefined

  constructor(
    private readonly deps: Dependencies,
    connection: Connection,
    readonly scope: Scope.Scope,
    // this fiber's refs (log annotations, span listener), for work a shared timer starts on the connection's behalf
    private readonly refs: FiberRefs.FiberRefs,
    reader: Fiber.RuntimeFiber<unknown, unknown> | undefined
  ) {
    super(connection, reader)
    const { settings } = deps
    this.settings = settings
    this.log = deps.log
    this.jobs = deps.jobs
    this.routes = deps.routes
    this.extensionRoutes = deps.extensionRoutes
    this.extensions = deps.extensions
    this.recorder = deps.recorder
    this.spanWatchers = deps.spanWatchers
    this.recorded = RecordedIds.make(2 * settings.maxOutboundEnvelopes)
    this.outbound = Outbound.unsafeMake(connection, outboundOptions(this), scope, refs)
    this.sidecar = Sidecar.unsafeMake(connection, this.outbound, scope)
    this.feed = SessionSpans.make(this)
  }

  /** The connection's deadlines and closers, in the connection's scope. */
  start(now: number): Effect.Effect<void> {
    const { deadlines } = this.deps
    // a connection that never completes the handshake is not kept forever: its deadline is on the runtime's one
    // timer (not a sleeping fiber per connection, issue 12), dropped once the handshake is over or the connection ends
    const timeoutMs = Math.max(1, Duration.toMillis(this.settings.handshakeTimeout))
    return Effect.all([
      deadlines.register(
        this,
        now + timeoutMs,
        timeoutMs,
        // on a fiber of the connection's, with its fiber refs (the timer serves every connection)
        () => Effect.as(forkWithFiberRefs(this.refs, this.scope, this.handshakeTimedOut()), false)
      ),
      // a shutting-down runtime tells an open session why it goes (its jobs are then detached below, as for a drop)
      Scope.extend(this.deps.atShutdown(this.endWith("UNAVAILABLE", "the runtime is shutting down")), this.scope),
      // on close, what still waits to be committed goes to the log (a job's events reach a resume, §8.5)
      onCloseOf(this.scope, Effect.suspend(() => this.outbound.close())),
      // however the connection ends — closed, dropped, or its fiber interrupted — its jobs are detached: they run
      // on, their later events go to the log and can be picked up again (§8.5). Runs before the outbound path
      // closes (closers run last-added first), which then records what it still held.
      onCloseOf(this.scope, Effect.suspend(() => this.ended()))
    ], { discard: true })
  }

  private ended(): Effect.Effect<void> {
    const { owner } = this
    return Effect.zipRight(
      Effect.zipRight(this.deps.deadlines.unregister(this), this.feed.disable),
      owner === undefined ? Effect.void : Effect.zipRight(
        this.deps.subscriptions?.endSession(owner.sessionId) ?? Effect.void,
        this.jobs.release(owner, "detach")
      )
    )
  }

  remember<A extends { readonly id: string }>(envelope: A): A {
    return this.recorded.remember(envelope)
  }
  recordedHere(envelope: { readonly id: string }): boolean {
    return this.recorded.recordedHere(envelope)
  }
  principal(): string {
    return this.principalId
  }
  sessionSpan(): Tracer.AnySpan | undefined {
    return this.handshakeSpan
  }

  /** Ends the session for `reason` (§8.5), or the connection when no session is open. */
  endWith(reason: "UNAVAILABLE" | "BACKPRESSURE_OVERFLOW", message: string): Effect.Effect<void> {
    return Effect.flatMap(
      Ref.get(this.phase),
      (p) => (p._tag === "Open" ? p.session.evict(reason, message) : this.close)
    )
  }

  /**
   * Closes the connection: what is queued goes out first (up to the close grace), then the socket; read on this
   * fiber, a close from another one interrupts it (a read or a handler it is in), and from this one the reader
   * stops once the frames it handles are done. Built on first use: an idle connection holds none of it.
   */
  get close(): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.closing = true
      return this.closeOnce ??= this.closeEffect()
    })
  }

  private closeEffect(): Effect.Effect<void> {
    const { connection, deps, outbound } = this
    // a peer that reads nothing cannot hold the close up: what it did not take in time is in the log. The grace
    // is a deadline on the runtime's shared timer that gives the drain up, not a race with a sleep (two fibers
    // and a timer per close, issue 12); a close interrupted meanwhile leaves the deadline to fire harmlessly
    const drainWithin = Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const key = {}
      return deps.deadlines.register(key, now + graceMs, graceMs, () => Effect.as(outbound.abandonDrains, false))
        .pipe(Effect.zipRight(outbound.drain), Effect.zipRight(deps.deadlines.unregister(key)))
    })
    // with nothing queued and sends that never wait for the peer, the drain cannot hang: no deadline
    const drainBeforeClose = connection.sendWaits === true
      ? drainWithin
      : Effect.flatMap(outbound.usage, (usage) => usage.envelopes === 0 ? outbound.drain : drainWithin)
    return drainBeforeClose.pipe(Effect.zipRight(connection.close), Effect.zipRight(this.stopReading()))
  }

  private handshakeContext(): Handshake.HandshakeContext {
    const { deps, settings } = this
    return {
      settings,
      authenticator: deps.authenticator,
      sessions: deps.sessions,
      log: deps.log,
      recorder: deps.recorder,
      sendCommitted: (envelope) => this.outbound.send(committed(this.remember(envelope))),
      opened: (principal) =>
        Effect.sync(() => {
          this.principalId = principal
        }),
      outbound: this.outbound,
      deadlines: deps.deadlines,
      close: this.close,
      binary: this.connection.binary,
      durable: deps.instanceId === undefined ? undefined : { log: deps.log, settings, instanceId: deps.instanceId },
      onEvict: deps.subscriptions === undefined
        ? undefined
        : (sessionId, reason) => deps.subscriptions?.endSession(sessionId, reason) ?? Effect.void,
      peer: this.connection.peer,
      fiberRefs: this.refs
    }
  }

  private handshakeTimedOut(): Effect.Effect<void> {
    return Effect.flatMap(
      Ref.get(this.phase),
      (p) =>
        p._tag === "Open" || p._tag === "Closed" ? Effect.void : this.outbound.emit(
          "session.rejected",
          ArcpError.of("DEADLINE_EXCEEDED", "the handshake did not complete in time").toPayload(),
          { priority: "critical" }
        ).pipe(Effect.zipRight(this.close))
    )
  }

  /** The session's owner of jobs: built by its first job, then taken with no fiber step (issue 12). */
  ownerOf(session: LiveSession): Effect.Effect<Owner> {
    if (this.owner !== undefined) return Effect.succeed(this.owner)
    return Effect.map(
      session.principal,
      (principal) => this.owner ??= sessionOwner(session, principal, this.outbound, this.settings, this.scope)
    )
  }

  // §6.4: a message id seen before is not executed again; it gets the answers the first one got (and its job's events)
  handleBatch(
    session: LiveSession,
    batch: ReadonlyArray<{ readonly message: Decoded; readonly json: string }>
  ): Effect.Effect<void> {
    return AcceptedMessages.handleBatch(this, session, batch)
  }

  /** A handshake step as a span (the session's root); a session that asked for trace.span is fed from here. */
  private traced(
    message: Decoded,
    step: Effect.Effect<Handshake.Phase, never, Scope.Scope>
  ): Effect.Effect<Handshake.Phase> {
    return Effect.gen(() => this.handshakeStep(step)).pipe(Spans.traced(`arcp ${message.type}`, {
      kind: "server",
      parent: Spans.parentOf(message, undefined),
      root: message.trace_id === undefined,
      attributes: { "arcp.message_id": message.id }
    }))
  }

  // a generator method, made once with the class (a `function*` evaluated per call makes a hidden class per call)
  private *handshakeStep(step: Effect.Effect<Handshake.Phase, never, Scope.Scope>) {
    const span = yield* Effect.currentSpan.pipe(Effect.orDie)
    this.handshakeSpan = span
    // the handshake's steps are given the connection's scope (a session's parts live in it); the read loop runs
    // outside it, so that an idle connection's fiber keeps no frame of a `Scope.extend` (issue 12)
    const next = yield* Scope.extend(step, this.scope)
    if (next._tag === "Open") {
      span.attribute("arcp.session_id", next.session.id)
      if ((next.session.capabilities.extensions ?? []).includes(TRACE_EXTENSION)) yield* this.feed.enable
    }
    return next
  }

  /** The handshake's next phase; once it is over (open or closed) its deadline goes. */
  private settle(next: Handshake.Phase): Effect.Effect<void> {
    return Effect.zipRight(
      Ref.set(this.phase, next),
      next._tag === "Open" || next._tag === "Closed" ? this.deps.deadlines.unregister(this) : Effect.void
    )
  }

  onMessage(message: Decoded): Effect.Effect<void> {
    return Effect.flatMap(Ref.get(this.phase), (current) => {
      switch (current._tag) {
        case "AwaitingOpen":
          if (!isCore(message) || message.type !== "session.open") {
            return Frames.dropBeforeAcceptance(message.type)
          }
          return Effect.flatMap(
            this.traced(message, Handshake.open(this.handshakeContext(), message)),
            (next) => this.settle(next)
          )
        case "Challenged":
          if (!isCore(message) || message.type !== "session.authenticate") {
            return Frames.dropBeforeAcceptance(message.type)
          }
          return Effect.flatMap(
            this.traced(message, Handshake.authenticate(this.handshakeContext(), current, message)),
            (next) => this.settle(next)
          )
        case "Closed":
          return Effect.void
        case "Open":
          return Effect.dieMessage("accepted messages are handled in batches")
      }
    })
  }

  // the frames, a chunk at a time: an open session's messages in runs, the rest one by one (connection/Frames)
  protected onChunk(frames: Iterable<Incoming>): Effect.Effect<void> {
    return Frames.onChunk(this)(frames)
  }

  protected setClosed(): Effect.Effect<void> {
    return Ref.set(this.phase, { _tag: "Closed" })
  }
}
