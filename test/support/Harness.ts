/** Builds servers and clients for the black-box tests: any transport, any event log. */
import { Effect, Layer, Logger, LogLevel, Option, Ref, Stream, type Scope } from "effect"
import * as Client from "../../src/client/Client.js"
import * as DemoTools from "../../src/cli/demoTools.js"
import type { Decoded } from "../../src/protocol/Message.js"
import * as Auth from "../../src/runtime/Auth.js"
import * as Runtime from "../../src/runtime/Runtime.js"
import type * as RuntimeConfig from "../../src/runtime/RuntimeConfig.js"
import * as Tools from "../../src/runtime/Tools.js"
import type { EventLog, EventLogError } from "../../src/store/EventLog.js"
import * as MemoryEventLog from "../../src/store/MemoryEventLog.js"
import * as Memory from "../../src/transport/Memory.js"
import { Acceptor, type Connection, type TransportError } from "../../src/transport/Transport.js"
import * as WebSocket from "../../src/transport/WebSocket.js"

export const TOKEN = "test-token"
export const PRINCIPAL = "alice"

/** The runtime with demo tools plus `extra`, bearer auth, on the given log and transport. */
export const serverLayer = <E>(options: {
  readonly transport: Layer.Layer<Acceptor, E>
  readonly eventLog?: Layer.Layer<EventLog, EventLogError>
  readonly runtime?: RuntimeConfig.Options
  readonly tools?: ReadonlyArray<Tools.Tool>
}) =>
  Runtime.serve.pipe(
    Layer.provideMerge(Runtime.layer(options.runtime ?? {})),
    Layer.provide(Layer.mergeAll(
      Auth.layer({ audience: "arcp://runtime", bearer: new Map([[TOKEN, PRINCIPAL], ["other-token", "bob"]]) }),
      Tools.layer([...DemoTools.all, ...(options.tools ?? [])])
    )),
    // the log stays visible to tests, which read job records from it
    Layer.provideMerge(options.eventLog ?? MemoryEventLog.layer),
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
  Effect.flatMap(dial, (connection) =>
    Client.connect(connection, { credentials: { scheme: "bearer", token: TOKEN }, ...options }))

/** A payload field, read without assuming the payload's type. */
export const field = (message: Decoded | undefined, key: string): unknown =>
  message === undefined ? undefined : Reflect.get(message.payload, key)

/** Collects messages from a subscription until `until` matches (inclusive). */
export const collectUntil = (messages: Stream.Stream<Decoded>, until: (m: Decoded) => boolean) =>
  messages.pipe(Stream.takeUntil(until), Stream.runCollect, Effect.map((c) => [...c]))

/** A tool that counts its executions, to prove a command ran once. */
export const makeCounter = Effect.map(Ref.make(0), (count) => ({
  count,
  tool: Tools.make({
    name: "count",
    parameters: Tools.AnyArguments,
    handler: () => Effect.map(Ref.updateAndGet(count, (n) => n + 1), (n) => ({ runs: n }))
  })
}))

/** A TCP WebSocket transport on a free port. */
export const webSocket = WebSocket.layer({ port: 0 })
export const memory = Memory.layer()
