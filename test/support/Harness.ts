/** Builds servers and clients for the black-box tests: any transport, any event log. */
import { Effect, Fiber, Layer, Logger, LogLevel, Option, Queue, Ref, type Scope, Stream, TestClock } from "effect"
import * as DemoTools from "../../src/cli/demoTools.js"
import * as Client from "../../src/client/Client.js"
import type { SessionId } from "../../src/protocol/Ids.js"
import type { Decoded } from "../../src/protocol/Message.js"
import * as Artifacts from "../../src/runtime/artifacts/Artifacts.js"
import * as Auth from "../../src/runtime/auth/Auth.js"
import type { SharedEventBus } from "../../src/runtime/events/EventBus.js"
import * as Events from "../../src/runtime/events/Events.js"
import * as HumanInput from "../../src/runtime/HumanInput.js"
import type { Owner } from "../../src/runtime/jobs/Job.js"
import * as Jobs from "../../src/runtime/jobs/Jobs.js"
import * as Permissions from "../../src/runtime/permissions/Permissions.js"
import * as Runtime from "../../src/runtime/Runtime.js"
import * as RuntimeConfig from "../../src/runtime/RuntimeConfig.js"
import * as Streams from "../../src/runtime/Streams.js"
import * as Tools from "../../src/runtime/Tools.js"
import type { ArtifactStore, ArtifactStoreError } from "../../src/store/ArtifactStore.js"
import type { EventLog, EventLogError } from "../../src/store/EventLog.js"
import * as MemoryArtifactStore from "../../src/store/MemoryArtifactStore.js"
import * as MemoryEventLog from "../../src/store/MemoryEventLog.js"
import type { ScheduleStore } from "../../src/store/ScheduleStore.js"
import * as Memory from "../../src/transport/Memory.js"
import { Acceptor, type Connection, type TransportError } from "../../src/transport/Transport.js"
import * as WebSocket from "../../src/transport/WebSocket.js"

export const TOKEN = "test-token"
export const PRINCIPAL = "alice"

/** The runtime with demo tools plus `extra`, bearer auth, on the given log and transport. */
export const serverLayer = <E>(options: {
  readonly transport: Layer.Layer<Acceptor, E>
  /** The event log and the schedule store beside it (both event-log layers provide the two). */
  readonly eventLog?: Layer.Layer<EventLog | ScheduleStore, EventLogError>
  readonly artifactStore?: Layer.Layer<ArtifactStore, ArtifactStoreError>
  readonly runtime?: RuntimeConfig.Options
  readonly tools?: ReadonlyArray<Tools.Tool>
  /** Extra bearer tokens (token → principal) and observe grants, beside alice's and bob's. */
  readonly auth?: Pick<Auth.Options, "bearer" | "observers"> | undefined
  /** The event bus, when several runtimes share the log (test/support/cluster/ClusterBus); else the in-process one. */
  readonly bus?: Layer.Layer<SharedEventBus, never, EventLog> | undefined
}) =>
  Runtime.serve.pipe(
    Layer.provideMerge(
      options.bus === undefined ? Runtime.layer(options.runtime ?? {}) : Runtime.layer(options.runtime ?? {}).pipe(
        Layer.provide(options.bus)
      )
    ),
    Layer.provide(Layer.mergeAll(
      Auth.layer({
        audience: "arcp://runtime",
        bearer: new Map([[TOKEN, PRINCIPAL], ["other-token", "bob"], ...(options.auth?.bearer ?? [])]),
        observers: options.auth?.observers
      }),
      Tools.layer([...DemoTools.all, ...(options.tools ?? [])])
    )),
    // the log stays visible to tests, which read job records from it
    Layer.provideMerge(options.eventLog ?? MemoryEventLog.layer),
    Layer.provideMerge(options.artifactStore ?? MemoryArtifactStore.layer),
    Layer.provideMerge(options.transport),
    Layer.provide(Logger.minimumLogLevel(LogLevel.None))
  )

/** A client connection to whatever acceptor the layer runs: memory or WebSocket. */
export const dial: Effect.Effect<Connection, TransportError, Scope.Scope | Acceptor> = Effect.gen(function*() {
  const acceptor = yield* Acceptor
  const network = yield* Effect.serviceOption(Memory.MemoryNetwork)
  return Option.isSome(network) ? yield* network.value.connect : yield* WebSocket.connect(acceptor.address)
})

/** Dials and opens a session as the test principal. */
export const open = (options: Partial<Client.ConnectOptions> = {}) =>
  Effect.flatMap(
    dial,
    (connection) => Client.connect(connection, { credentials: { scheme: "bearer", token: TOKEN }, ...options })
  )

/** A payload field, read without assuming the payload's type. */
export const field = (message: Decoded | undefined, key: string): unknown =>
  message === undefined ? undefined : Reflect.get(message.payload, key)

/**
 * Messages a read pulled from a subscription but did not use, by subscription: a pull takes a whole
 * chunk off the subscription's queue, so what follows the match is kept here for the next read.
 */
const unread = new WeakMap<Stream.Stream<Decoded>, Array<Decoded>>()

/**
 * Collects messages from a subscription until `until` matches (inclusive), or until it ends.
 * Repeated calls on the same subscription see every message once, in order (one reader at a time).
 */
export const collectUntil = (
  messages: Stream.Stream<Decoded>,
  until: (m: Decoded) => boolean
): Effect.Effect<Array<Decoded>> =>
  Effect.scoped(Effect.gen(function*() {
    const buffer = unread.get(messages) ?? []
    unread.set(messages, buffer)
    const seen: Array<Decoded> = []
    // takes buffered messages one at a time; true once one matches (the rest stay buffered)
    const scan = Effect.sync(() => {
      for (let m = buffer.shift(); m !== undefined; m = buffer.shift()) {
        seen.push(m)
        if (until(m)) return true
      }
      return false
    })
    if (yield* scan) return seen
    const pull = yield* Stream.toPull(messages)
    while (true) {
      // a pulled chunk is buffered before an interruption can drop it; the subscription never fails: a failed pull is its end
      const more = yield* Effect.uninterruptibleMask((restore) =>
        Effect.map(
          Effect.option(restore(pull)),
          Option.match({
            onNone: () => false,
            onSome: (chunk) => {
              buffer.push(...chunk)
              return true
            }
          })
        )
      )
      if (!more) return seen
      if (yield* scan) return seen
    }
  }))

/**
 * Every message of `messages` up to the pong of a ping sent now (inclusive). The runtime answers
 * the ping after what it had already queued (terminals go out ahead of it), so anything a job
 * still had to send, such as a repeated terminal, is read before the pong.
 */
export const untilPong = (
  session: Client.Session,
  messages: Stream.Stream<Decoded>
): Effect.Effect<Array<Decoded>, Client.ClientError> =>
  Effect.flatMap(
    session.send("ping", {}),
    (pingId) => collectUntil(messages, (m) => m.type === "pong" && m.correlation_id === pingId)
  )

/**
 * How many terminals each of `jobIds` got: reads `messages` up to a ping's pong, then counts over
 * `before` (what the test read already) and that; each envelope counts, repeated ids included.
 */
export const terminalsUntilQuiet = (
  session: Client.Session,
  messages: Stream.Stream<Decoded>,
  jobIds: ReadonlyArray<string | undefined>,
  before: ReadonlyArray<Decoded> = []
): Effect.Effect<Array<number>, Client.ClientError> =>
  Effect.map(untilPong(session, messages), (after) => {
    const all = [...before, ...after]
    return jobIds.map((jobId) =>
      all.filter((m) => m.job_id !== undefined && m.job_id === jobId && Client.terminalTypes.has(m.type)).length
    )
  })

/** A tool that counts its executions, to prove a command ran once. */
export const makeCounter = Effect.map(Ref.make(0), (count) => ({
  count,
  tool: Tools.make({
    name: "count",
    parameters: Tools.AnyArguments,
    handler: () => Effect.map(Ref.updateAndGet(count, (n) => n + 1), (n) => ({ runs: n }))
  })
}))

/** The Jobs service on its own, with the demo tools and `tools`, over the memory log and default settings. */
export const jobsServices = (tools: ReadonlyArray<Tools.Tool>) =>
  Jobs.layer.pipe(
    Layer.provideMerge(Layer.mergeAll(Tools.layer([...DemoTools.all, ...tools]), HumanInput.layer, Streams.layer)),
    Layer.provideMerge(Permissions.layer),
    Layer.provideMerge(Artifacts.layer.pipe(Layer.provide(MemoryArtifactStore.layer))),
    Layer.provideMerge(RuntimeConfig.layer({})),
    Layer.provideMerge(Events.layer),
    Layer.provideMerge(MemoryEventLog.layer)
  )

/** A session as the Jobs service sees it (alice, trusted, human input negotiated), its envelopes offered to `inbox`. */
export const queueOwner = (
  sessionId: SessionId,
  inbox: Queue.Enqueue<Decoded>,
  options: Partial<Owner> = {}
): Owner => ({
  sessionId,
  principal: PRINCIPAL,
  sink: (e) => Queue.offer(inbox, e),
  heartbeatIntervalSeconds: 3600,
  trustLevel: "trusted",
  humanInput: true,
  ...options
})

/**
 * A session as the Jobs service sees it (`queueOwner`), with a reader of its inbox: `until` takes messages until one
 * matches (inclusive), keeping every one it took in `seen`.
 */
export const queueSession = (sessionId: SessionId, options: Partial<Owner> = {}) =>
  Effect.gen(function*() {
    const inbox = yield* Queue.unbounded<Decoded>()
    const owner = queueOwner(sessionId, inbox, options)
    const seen: Array<Decoded> = []
    const until = (match: (m: Decoded) => boolean) =>
      Effect.gen(function*() {
        while (true) {
          const m = yield* Queue.take(inbox)
          seen.push(m)
          if (match(m)) return m
        }
      })
    return { owner, inbox, seen, until }
  })

/**
 * Moves the TestClock in `stepMs` steps until `effect` completes (the waits it races may not be registered yet);
 * returns its value and how far the clock moved.
 */
export const advanceUntil = <A, E, R>(effect: Effect.Effect<A, E, R>, stepMs: number) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(effect)
    for (let moved = 0;; moved += stepMs) {
      for (let i = 0; i < 20; i++) yield* Effect.yieldNow()
      const done = yield* Fiber.poll(fiber)
      if (Option.isSome(done)) return { value: yield* done.value, moved }
      yield* TestClock.adjust(`${stepMs} millis`)
    }
  })

/** A TCP WebSocket transport on a free port. */
export const webSocket = WebSocket.layer({ port: 0 })
export const memory = Memory.layer()
