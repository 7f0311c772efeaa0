/**
 * `arcp/promise`: the same client and server for code that does not use
 * Effect. Every call is a Promise; streams are async iterators; failures
 * reject with the typed error (`ArcpError`, `ClientError`, `TransportError`).
 */
import { Cause, Duration, Effect, Exit, Layer, Scope, Stream } from "effect"
import type { Capabilities } from "../protocol/Capabilities.js"
import type { HeaderOptions } from "../protocol/Envelope.js"
import type { MessageId, SessionId } from "../protocol/Ids.js"
import type { Decoded, MessageType, PayloadOf } from "../protocol/Message.js"
import type { RuntimeIdentity } from "../protocol/messages/Session.js"
import * as Server from "../runtime/Server.js"
import { Sessions } from "../runtime/Sessions.js"
import type { Tool } from "../runtime/Tools.js"
import { Acceptor } from "../transport/Transport.js"
import * as WebSocket from "../transport/WebSocket.js"
import * as Client from "./Client.js"

export { ArcpError } from "../protocol/Errors.js"
export { ClientError } from "./Client.js"
export { jwtSigner } from "./Credentials.js"
export type { Credentials } from "./Credentials.js"

/** Runs an effect, rejecting with its typed failure (not a FiberFailure wrapper). */
const run = <A, E>(effect: Effect.Effect<A, E>): Promise<A> =>
  Effect.runPromiseExit(effect).then((exit) => {
    if (Exit.isSuccess(exit)) return exit.value
    throw Cause.squash(exit.cause)
  })

export interface PromiseSession {
  readonly id: SessionId
  readonly runtime: RuntimeIdentity
  readonly capabilities: Capabilities
  send<T extends MessageType>(type: T, payload: PayloadOf<T>, options?: HeaderOptions): Promise<MessageId>
  request<T extends MessageType>(type: T, payload: PayloadOf<T>, options?: HeaderOptions): Promise<Decoded>
  /** Round-trip time in milliseconds. */
  ping(): Promise<number>
  /** Every message from now on, until the session closes or the iterator is returned. */
  messages(): AsyncIterable<Decoded>
  close(): Promise<void>
}

/** Connects over WebSocket and opens a session. */
export const connect = async (
  url: string,
  options: Client.ConnectOptions
): Promise<PromiseSession> => {
  const scope = Effect.runSync(Scope.make())
  const session = await run(
    Effect.flatMap(WebSocket.connect(url), (connection) => Client.connect(connection, options)).pipe(Scope.extend(scope))
  ).catch(async (e: unknown) => {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    throw e
  })
  return {
    id: session.id,
    runtime: session.runtime,
    capabilities: session.capabilities,
    send: (type, payload, header) => run(session.send(type, payload, header)),
    request: (type, payload, header) => run(session.request(type, payload, header)),
    ping: () => run(Effect.map(session.ping, Duration.toMillis)),
    messages: () => {
      const iteratorScope = Effect.runSync(Scope.make())
      const stream = Effect.runSync(Scope.extend(session.subscribe, iteratorScope)).pipe(
        Stream.interruptWhen(session.ended),
        Stream.ensuring(Scope.close(iteratorScope, Exit.void))
      )
      return Stream.toAsyncIterable(stream)
    },
    close: () => run(session.close().pipe(Effect.zipRight(Scope.close(scope, Exit.void))))
  }
}

export interface PromiseServer {
  /** `ws://host:port` */
  readonly address: string
  /** How many sessions are live. */
  sessionCount(): Promise<number>
  close(): Promise<void>
}

/** Starts a WebSocket server (see `Server.Options` for auth and limits). */
export const createServer = async (
  options: Omit<Server.Options, "transport" | "db" | "tools"> & {
    readonly host?: string
    readonly port?: number
    /** SQLite file for the event log (default `:memory:`). */
    readonly db?: string
    readonly tools?: ReadonlyArray<Tool>
  }
): Promise<PromiseServer> => {
  const scope = Effect.runSync(Scope.make())
  const layer = Server.layer({
    ...options,
    db: options.db ?? ":memory:",
    tools: options.tools ?? [],
    transport: { kind: "ws", host: options.host, port: options.port }
  })
  const context = await run(Layer.buildWithScope(layer, scope))
  const address = (await run(Effect.provide(Acceptor, context))).address
  return {
    address,
    sessionCount: () => run(Effect.provide(Effect.flatMap(Sessions, (s) => Effect.map(s.list, (l) => l.length)), context)),
    close: () => run(Scope.close(scope, Exit.void))
  }
}
