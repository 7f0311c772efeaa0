/**
 * `arcp serve`'s dashboard flags and start-up: the observer dashboard on its own HTTP port (loopback by
 * default), next to the WebSocket transport it needs, with its URL printed beside the development token.
 */
import { Options } from "@effect/cli"
import { Config, Console, Effect, Option, type Scope } from "effect"
import * as DashboardServer from "../../dashboard/DashboardServer.js"
import * as Combined from "../../transport/Combined.js"
import { CliError } from "../Failure.js"
import * as Settings from "../Settings.js"
import { validPort } from "./ServeFailure.js"

/** The port when none is given (the runtime's own default is 7777, HTTP/2's 7778). */
export const DEFAULT_DASHBOARD_PORT = 7780

export const options = {
  dashboardPort: validPort(
    Settings.withEnv(Options.integer("dashboard-port"), Config.integer("ARCP_DASHBOARD_PORT")),
    "--dashboard-port"
  ).pipe(
    Options.optional,
    Options.withDescription(
      `HTTP port of the observer dashboard; 0 picks a free one (default ${DEFAULT_DASHBOARD_PORT}, or a free one with --port 0) [ARCP_DASHBOARD_PORT]`
    )
  ),
  dashboardHost: Settings.text(
    "dashboard-host",
    "ARCP_DASHBOARD_HOST",
    "127.0.0.1",
    "address the dashboard listens on; anything but loopback shows the sign-in page to the network"
  ),
  noDashboard: Options.boolean("no-dashboard").pipe(
    Options.withDescription("do not serve the observer dashboard (default off; no env var)")
  )
}

export interface Flags {
  readonly dashboardPort: Option.Option<number>
  readonly dashboardHost: string
  readonly noDashboard: boolean
  readonly port: number
}

const WILDCARD = new Set(["0.0.0.0", "::", "[::]"])

/**
 * Starts the dashboard for the scope when the runtime serves WebSocket (the page's only way in) and it is
 * not turned off; prints its URL (with the development token in the fragment, which stays in the browser).
 * A default port already taken costs one warning line, not the runtime; a port asked for by name is an error.
 */
export const start = (
  o: Flags,
  acceptorAddress: string,
  devToken: string | undefined,
  say: (line: string) => Effect.Effect<void>
): Effect.Effect<void, CliError, Scope.Scope> =>
  Effect.gen(function*() {
    if (o.noDashboard) return
    const ws = Combined.addressesOf(acceptorAddress).find((a) => a.startsWith("ws://"))
    if (ws === undefined) {
      if (Option.isSome(o.dashboardPort)) yield* say("no dashboard: it needs the WebSocket transport (--transport ws)")
      return
    }
    const wsPort = Number(new URL(ws).port)
    const port = Option.getOrElse(o.dashboardPort, () => (o.port === 0 ? 0 : DEFAULT_DASHBOARD_PORT))
    const started = yield* DashboardServer.start({ host: o.dashboardHost, port, wsPort }).pipe(
      Effect.map(Option.some),
      Effect.catchAll((e) =>
        Option.isNone(o.dashboardPort) && e.code === "EADDRINUSE"
          ? Effect.as(
            Console.error(`no dashboard: port ${port} is in use (choose one with --dashboard-port, or --no-dashboard)`),
            Option.none()
          )
          : Effect.fail(
            new CliError({
              message: e.code === "EADDRINUSE"
                ? `--dashboard-port ${port} on ${o.dashboardHost} is already in use: choose another (0 picks a free one) or --no-dashboard`
                : e.message
            })
          )
      )
    )
    if (Option.isNone(started)) return
    const url = WILDCARD.has(o.dashboardHost)
      ? started.value.url.replace(/\/\/[^/]+\//, `//localhost:${started.value.port}/`)
      : started.value.url
    yield* say(`dashboard: ${url}${devToken !== undefined ? `#token=${devToken}` : ""}`)
  })
