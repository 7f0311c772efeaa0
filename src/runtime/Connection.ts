/**
 * The per-connection loop: decode each frame once, gate it on the handshake
 * (§8.1), apply the unknown-type rules (§21.3), route it, and answer every bad
 * frame with a nack while the session carries on. Its parts live in connection/:
 * what it is given (Dependencies), how frames are taken (Frames), the open session's messages
 * (AcceptedMessages), refusals (Nacks), the span feed (SessionSpans) and the envelopes it recorded (RecordedIds).
 */
import {
  Cause,
  Clock,
  Deferred,
  Duration,
  Effect,
  Fiber,
  FiberRef,
  HashMap,
  Option,
  Ref,
  Scope,
  Stream,
  type Tracer
} from "effect"
import { onClose } from "../internal/OnClose.js"
import { forkWithFiberRefs } from "../internal/WithFiberRefs.js"
import { ArcpError } from "../protocol/Errors.js"
import { type Decoded, isCore } from "../protocol/Message.js"
import type { Connection, Incoming, TransportError } from "../transport/Transport.js"
import * as Sidecar from "./artifacts/Sidecar.js"
import * as AcceptedMessages from "./connection/AcceptedMessages.js"
import * as Frames from "./connection/Frames.js"
import * as RecordedIds from "./connection/RecordedIds.js"
import * as Riders from "./connection/Riders.js"
import { sessionOwner } from "./connection/SessionOwner.js"
import * as SessionSpans from "./connection/SessionSpans.js"
import { committed, isRelayed } from "./events/Relayed.js"
import * as Handshake from "./Handshake.js"
import type { Owner } from "./jobs/Job.js"
import type { LiveSession } from "./LiveSession.js"
import * as Outbound from "./outbound/Outbound.js"
import * as SpanFeed from "./tracing/SpanFeed.js"
import * as Spans from "./tracing/Spans.js"

import type { Dependencies } from "./connection/Dependencies.js"

export type { Dependencies }

/** How long closing waits for the peer to take what is queued before the socket is closed anyway. */
const CLOSE_GRACE = Duration.seconds(5)
const graceMs = Duration.toMillis(CLOSE_GRACE)
/** Serves one connection until it closes; never fails (a bad session must not take the runtime down). */
export const serve = (deps: Dependencies, connection: Connection): Effect.Effect<void> => {
  // on a fiber of its own the connection's scope is the transport's (closed once the connection's last fiber ends),
  // else one of its own. The read loop runs outside `Scope.extend`: no frame of it on an idle connection's fiber
  const { scope } = connection
  return (connection.ownFiber === true && scope !== undefined
    ? Effect.flatten(Scope.extend(setUp(deps, connection), scope))
    : Effect.scoped(Effect.flatten(setUp(deps, connection)))).pipe(
      // an interruption is how a connection read on its own fiber is ended from elsewhere: not a failure
      Effect.catchAllCause((cause) =>
        Cause.isInterruptedOnly(cause) ? Effect.void : Effect.logError(`connection ${connection.label} failed`, cause)
      )
    )
}

/**
 * Builds the connection's parts, and returns what is left to run: the read loop. Returned rather than run inside the
 * generator, so an idle connection's fiber does not keep the generator (and what it holds) on its stack.
 */
const setUp = (
  deps: Dependencies,
  connection: Connection
): Effect.Effect<Effect.Effect<void>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { log, settings } = deps
    // the connection's log annotation and its span feed's listener (below), set before anything copies the fiber's
    // refs so all share one, and restored by one finalizer as the scope closes (not `annotateLogs` frames, issue 12)
    const annotations = yield* FiberRef.get(FiberRef.currentLogAnnotations)
    const listener = yield* FiberRef.get(Spans.spanListener)
    yield* FiberRef.set(FiberRef.currentLogAnnotations, HashMap.set(annotations, "connection", connection.label))
    yield* FiberRef.set(Spans.spanListener, Option.some((span, end, exit) => feed.listener(span, end, exit)))
    yield* onClose(Effect.zipRight(
      FiberRef.set(FiberRef.currentLogAnnotations, annotations),
      FiberRef.set(Spans.spanListener, listener)
    ))
    const phase = yield* Ref.make<Handshake.Phase>({ _tag: "AwaitingOpen" })
    // on a fiber of its own with `receive`, the connection is read on this fiber: one fiber per connection, not two
    // (the second held ~7 KB of an idle session, issue 12); ending it from another fiber interrupts this one. With
    // `suspend`, a connection waiting for its peer has no fiber at all (`reader` is then undefined, see below)
    const ownFiber = connection.ownFiber === true && connection.receive !== undefined
    let reader = ownFiber
      ? yield* Effect.withFiberRuntime<Fiber.RuntimeFiber<unknown, unknown>>(Effect.succeed)
      : undefined
    /** Starts a fiber for a suspended connection (once): it reads what is there, or sees `closing` and ends. */
    let resumeSuspended: (() => void) | undefined
    const scope = yield* Effect.scope
    // whose the session is, once the handshake knows: published envelopes carry it (visibility)
    let principalId = ""
    // the envelopes this connection recorded: a resume's follower skips them (§19); as many as its buffer holds
    const { recordedHere, remember } = RecordedIds.make(2 * settings.maxOutboundEnvelopes)
    /** Ends the session for `reason` (§8.5), or the connection when no session is open. */
    const endWith = (reason: "UNAVAILABLE" | "BACKPRESSURE_OVERFLOW", message: string) =>
      Effect.flatMap(Ref.get(phase), (p) => (p._tag === "Open" ? p.session.evict(reason, message) : close))
    const outbound: Outbound.Outbound = yield* Outbound.make(connection, {
      // every envelope of a session goes to the log before the socket; handshake traffic has no session yet
      // (relayed copies were committed elsewhere and handed over by the bus already)
      recordable: (envelope) => envelope.session_id !== undefined && !isRelayed(envelope),
      // committed, then published; the bus hands the committed copies back to the writer (the inbox)
      record: (batch, inbox) => {
        const entries = batch.flatMap(({ envelope, json }) =>
          envelope.session_id === undefined
            ? []
            : [{ envelope: remember(envelope), sessionId: envelope.session_id, principal: principalId, json }]
        )
        return Riders.record(deps.recorder, entries, inbox)
      },
      limits: {
        maxBytes: settings.maxOutboundBytes,
        maxEnvelopes: settings.maxOutboundEnvelopes,
        stallTimeout: settings.stalledReaderTimeout
      },
      // durable before the client sees it: what cannot be recorded is not sent, and the session ends (retryable)
      onRecordFailure: (error) => endWith("UNAVAILABLE", `the runtime cannot record this session: ${error.message}`),
      onStall: Effect.suspend(() =>
        endWith(
          "BACKPRESSURE_OVERFLOW",
          `the client read nothing for ${Duration.format(settings.stalledReaderTimeout)} while its buffer was full`
        )
      )
    })
    const sidecar = yield* Sidecar.make(connection, outbound)
    // §17.1: the session's spans as trace.span, or recorded only for a subscription to them (connection/SessionSpans)
    const feed = SessionSpans.make({
      phase,
      outbound,
      recorder: deps.recorder,
      spanWatchers: deps.spanWatchers,
      remember,
      principal: () => principalId
    })
    /** The handshake's span: messages that name no trace of their own join the session's trace. */
    let sessionSpan: Tracer.AnySpan | undefined
    // what a reader on a fiber of its own (not this one) waits for, to be told the connection is closing
    const closed = ownFiber ? undefined : yield* Deferred.make<void>()
    /**
     * Closes the connection: what is queued goes out first (up to the close grace), then the socket; read on this
     * fiber, a close from another one interrupts it (a read or a handler it is in), and from this one the reader
     * stops once the frames it handles are done. Built on first use: an idle connection holds none of it.
     */
    let closing = false
    let closeOnce: Effect.Effect<void> | undefined
    const close = Effect.suspend(() => {
      closing = true
      return closeOnce ??= closeEffect()
    })
    const closeEffect = (): Effect.Effect<void> => {
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
      const stopReading = Effect.withFiberRuntime<void>((current) =>
        closed !== undefined
          ? Deferred.succeed(closed, undefined)
          : reader !== undefined
          ? current !== reader ? reader.interruptAsFork(current.id()) : Effect.void
          // suspended: a fiber of the connection's starts, sees `closing` and ends it
          : Effect.sync(() => resumeSuspended?.())
      )
      return drainBeforeClose.pipe(Effect.zipRight(connection.close), Effect.zipRight(stopReading))
    }
    // this fiber's refs (log annotations, span listener), for work a shared timer starts on the connection's behalf
    const refs = yield* Effect.getFiberRefs
    const handshake: Handshake.HandshakeContext = {
      settings,
      authenticator: deps.authenticator,
      sessions: deps.sessions,
      log,
      recorder: deps.recorder,
      sendCommitted: (envelope) => outbound.send(committed(remember(envelope))),
      opened: (principal) =>
        Effect.sync(() => {
          principalId = principal
        }),
      outbound,
      deadlines: deps.deadlines,
      close,
      binary: connection.binary,
      durable: deps.instanceId === undefined ? undefined : { log, settings, instanceId: deps.instanceId },
      onEvict: (sessionId, reason) => deps.subscriptions?.endSession(sessionId, reason) ?? Effect.void,
      peer: connection.peer,
      fiberRefs: refs
    }

    // a connection that never completes the handshake is not kept forever: its deadline is on the runtime's one
    // timer (not a sleeping fiber per connection, issue 12), dropped once the handshake is over or the connection ends
    const handshakeDeadline = {}
    const timeoutMs = Math.max(1, Duration.toMillis(settings.handshakeTimeout))
    const handshakeTimedOut = () =>
      Effect.flatMap(Ref.get(phase), (p) =>
        p._tag === "Open" || p._tag === "Closed" ? Effect.void : outbound.emit(
          "session.rejected",
          ArcpError.of("DEADLINE_EXCEEDED", "the handshake did not complete in time").toPayload(),
          { priority: "critical" }
        ).pipe(Effect.zipRight(close)))
    yield* deps.deadlines.register(
      handshakeDeadline,
      (yield* Clock.currentTimeMillis) + timeoutMs,
      timeoutMs,
      // on a fiber of the connection's, with its fiber refs (the timer serves every connection)
      () => Effect.as(forkWithFiberRefs(refs, scope, handshakeTimedOut()), false)
    )

    // a shutting-down runtime tells an open session why it goes (its jobs are then detached below, as for a drop)
    yield* deps.atShutdown(
      Effect.flatMap(
        Ref.get(phase),
        (p) => p._tag === "Open" ? p.session.evict("UNAVAILABLE", "the runtime is shutting down") : close
      )
    )

    let owner: Owner | undefined
    // however the connection ends — closed, dropped, or its fiber interrupted — its jobs are detached: they run
    // on, their later events go to the log and can be picked up again (§8.5). Runs before the outbound path
    // closes (finalizers run last-added first), which then records what it still held.
    // (one finalizer for the span feed too: each one a connection holds costs an idle session memory)
    yield* onClose(
      Effect.zipRight(
        Effect.zipRight(deps.deadlines.unregister(handshakeDeadline), feed.disable),
        Effect.suspend(() =>
          owner === undefined ? Effect.void : Effect.zipRight(
            deps.subscriptions?.endSession(owner.sessionId) ?? Effect.void,
            deps.jobs.release(owner, "detach")
          )
        )
      )
    )
    // built once; each batch after the first takes it with no fiber step (issue 12)
    const ownerOf = (session: LiveSession) =>
      owner !== undefined ? Effect.succeed(owner) : Effect.gen(function*() {
        if (owner !== undefined) return owner
        const principal = yield* session.principal
        owner = sessionOwner(session, principal, outbound, settings, scope)
        return owner
      })

    // §6.4: a message id seen before is not executed again; it gets the answers the first one got (and its job's events)
    const accepted: AcceptedMessages.AcceptedContext = {
      settings,
      log,
      jobs: deps.jobs,
      routes: deps.routes,
      extensionRoutes: deps.extensionRoutes,
      extensions: deps.extensions,
      outbound,
      close,
      sidecar,
      scope,
      recordedHere,
      ownerOf,
      sessionSpan: () => sessionSpan
    }
    const handleBatch = (
      session: LiveSession,
      batch: ReadonlyArray<{ readonly message: Decoded; readonly json: string }>
    ) => AcceptedMessages.handleBatch(accepted, session, batch)

    /** A handshake step as a span (the session's root); a session that asked for trace.span is fed from here. */
    const handshakeSpan = <R>(message: Decoded, step: Effect.Effect<Handshake.Phase, never, R>) =>
      Effect.gen(function*() {
        const span = yield* Effect.currentSpan.pipe(Effect.orDie)
        sessionSpan = span
        const next = yield* step
        if (next._tag === "Open") {
          span.attribute("arcp.session_id", next.session.id)
          if ((next.session.capabilities.extensions ?? []).includes(SpanFeed.TRACE_EXTENSION)) yield* feed.enable
        }
        return next
      }).pipe(Spans.traced(`arcp ${message.type}`, {
        kind: "server",
        parent: Spans.parentOf(message, undefined),
        root: message.trace_id === undefined,
        attributes: { "arcp.message_id": message.id }
      }))

    /** The handshake's next phase; once it is over (open or closed) its deadline goes. */
    const settle = (next: Handshake.Phase) =>
      Effect.zipRight(
        Ref.set(phase, next),
        next._tag === "Open" || next._tag === "Closed" ? deps.deadlines.unregister(handshakeDeadline) : Effect.void
      )

    // the handshake's steps are given the connection's scope (a session's parts live in it); the read loop runs outside
    // it, so that an idle connection's fiber keeps no frame of a `Scope.extend` (issue 12)
    const inScope = <A>(step: Effect.Effect<A, never, Scope.Scope>) => Scope.extend(step, scope)
    const onMessage = (message: Decoded): Effect.Effect<void> =>
      Effect.gen(function*() {
        const current = yield* Ref.get(phase)
        switch (current._tag) {
          case "AwaitingOpen":
            if (!isCore(message) || message.type !== "session.open") {
              return yield* Frames.dropBeforeAcceptance(message.type)
            }
            return yield* settle(yield* handshakeSpan(message, inScope(Handshake.open(handshake, message))))
          case "Challenged":
            if (!isCore(message) || message.type !== "session.authenticate") {
              return yield* Frames.dropBeforeAcceptance(message.type)
            }
            return yield* settle(
              yield* handshakeSpan(message, inScope(Handshake.authenticate(handshake, current, message)))
            )
          case "Closed":
            return
          case "Open":
            return yield* Effect.dieMessage("accepted messages are handled in batches")
        }
      })

    // the frames, a chunk at a time: an open session's messages in runs, the rest one by one (connection/Frames)
    const onChunk = Frames.onChunk({ settings, phase, outbound, sidecar, onMessage, handleBatch })

    const ended = (error: { readonly message: string }) =>
      Effect.logDebug(`connection ${connection.label} ended: ${error.message}`)
    // made when needed: an idle connection keeps no effect of it
    const setClosed = () => Ref.set(phase, { _tag: "Closed" })
    // through `receive` when the transport has it: no stream executor per connection (issue 12)
    const { receive, receiveNow, whenReadable, suspend } = connection
    if (ownFiber && suspend !== undefined && receiveNow !== undefined && whenReadable !== undefined) {
      // read in turns: a fiber of the connection's handles what has arrived, and once it would wait it suspends the
      // connection and ends; the next frame (or the end) starts the next (issue 12: an idle connection holds no fiber)
      const turn: Effect.Effect<void> = Effect.suspend(() => {
        if (closing) return setClosed()
        const now = receiveNow()
        if (now === undefined) return suspendReading
        return Effect.matchEffect(now, {
          onFailure: (error) => Effect.zipRight(ended(error), setClosed()),
          onSuccess: (frames) => frames.length === 0 ? setClosed() : Effect.zipRight(onChunk(frames), turn)
        })
      })
      const resumed = Effect.withFiberRuntime<void>((fiber) => {
        reader = fiber
        return turn
      })
      // (no fiber reads from here on, in the same step as the wake-up is set: a close from elsewhere either interrupts
      // the reader before it suspends or resumes it after; one that began meanwhile resumes it at once)
      const suspendReading = suspend((resume) => {
        reader = undefined
        if (closing) return resume()
        resumeSuspended = resume
        whenReadable(resume)
      }, resumed)
      return turn
    }
    // until the peer ends the connection, or closing begins. Through `receive`, a loop of `flatMap`s rather than a
    // generator: an idle connection's fiber waits in `receive` with one frame of it on its stack (issue 12)
    const readLoop = (take: Effect.Effect<ReadonlyArray<Incoming>, TransportError>) => {
      const next = (frames: ReadonlyArray<Incoming>): Effect.Effect<void, TransportError> =>
        frames.length === 0 ? Effect.void : Effect.flatMap(onChunk(frames), () => closing ? Effect.void : loop)
      const loop: Effect.Effect<void, TransportError> = Effect.flatMap(take, next)
      return Effect.suspend(() => closing ? Effect.void : loop)
    }
    const reading = receive === undefined ? Stream.runForEachChunk(connection.incoming, onChunk) : readLoop(receive)
    if (ownFiber) {
      return Effect.matchEffect(reading, {
        onFailure: (error) => Effect.zipRight(ended(error), setClosed()),
        onSuccess: setClosed
      })
    }
    // otherwise the reader on its own fiber, this one waiting for the end: closing (ours) or the stream's (the
    // peer's). Waited on rather than raced (a race forks both sides) or Stream.interruptWhen (a race per pull, 4x)
    const ownReader = yield* reading.pipe(
      Effect.catchAll(ended),
      Effect.ensuring(closed === undefined ? Effect.void : Deferred.succeed(closed, undefined)),
      Effect.fork
    )
    if (closed !== undefined) yield* Deferred.await(closed)
    yield* Fiber.interrupt(ownReader)
    return setClosed()
  })
