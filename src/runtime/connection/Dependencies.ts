/** What a connection's loop (`Connection.serve`) is given by the runtime: its settings, services and hooks. */
import type { Context, Effect, Scope } from "effect"
import type { EventLog } from "../../store/EventLog.js"
import type { Authenticator } from "../auth/Auth.js"
import type { Recorder } from "../events/Recorder.js"
import type { Subscriptions } from "../events/Subscriptions.js"
import type { ExtensionTable } from "../extensions/Handlers.js"
import type { Heartbeats } from "../internal/Heartbeats.js"
import type { Jobs } from "../jobs/Jobs.js"
import type { ExtensionRoute, RouteTable } from "../Router.js"
import type { Settings } from "../RuntimeConfig.js"
import type { Sessions } from "../Sessions.js"
import type { SpanWatchers } from "../tracing/SpanWatchers.js"

export interface Dependencies {
  readonly settings: Settings
  readonly authenticator: Context.Tag.Service<typeof Authenticator>
  readonly sessions: Context.Tag.Service<typeof Sessions>
  readonly log: Context.Tag.Service<typeof EventLog>
  /** The one recorder of outbound envelopes (commit, then publish on the event bus). */
  readonly recorder: Context.Tag.Service<typeof Recorder>
  readonly jobs: Context.Tag.Service<typeof Jobs>
  readonly routes: RouteTable
  /** Handlers of the advertised extension types (§21.2), by type. */
  readonly extensionRoutes?: ReadonlyMap<string, ExtensionRoute> | undefined
  /** Handlers of the extensions this runtime implements (§21.2); an advertised one without a handler is UNIMPLEMENTED. */
  readonly extensions?: ExtensionTable | undefined
  /**
   * Registers what this connection does when the runtime shuts down (an open session is evicted UNAVAILABLE,
   * a handshake closed), for the life of the scope; the runtime runs it then (at once if already stopping).
   * A registration rather than a fiber waiting per connection: idle sessions are many (issue 12).
   */
  readonly atShutdown: (goodbye: Effect.Effect<void>) => Effect.Effect<void, never, Scope.Scope>
  /** The runtime's one timer for every session's idle and lease deadlines (not a timer fiber per session). */
  readonly deadlines: Heartbeats
  /** This runtime's instance id (§4.3): sessions are recorded durable under it (§9); absent: they are not. */
  readonly instanceId?: string | undefined
  /** The session's subscriptions (§13): closed with the reason on eviction, stopped when the connection ends. */
  readonly subscriptions?: Pick<Context.Tag.Service<typeof Subscriptions>, "endSession"> | undefined
  /** Subscriptions to trace.span (§13): while one lives, this session's spans are recorded for it. */
  readonly spanWatchers?: Context.Tag.Service<typeof SpanWatchers> | undefined
}
