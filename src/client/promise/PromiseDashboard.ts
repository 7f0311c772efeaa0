/**
 * The observer dashboard mounted on an application's own server, for Promise users: `attachDashboard` beside
 * `attach`, or `dashboardHandler` as a middleware for Express, Connect or Fastify.
 */
import { Effect, Exit, Scope } from "effect"
import * as DashboardMount from "../../dashboard/DashboardMount.js"
import { run } from "./Interop.js"

export type { DashboardHandler, RequestSource } from "../../dashboard/DashboardMount.js"
export { DashboardError } from "../../dashboard/DashboardServer.js"

export type AttachDashboardOptions = DashboardMount.MountOptions

export interface MountedDashboard {
  /** Where the page is, relative to the server's origin, e.g. "/dashboard/". */
  readonly path: string
  /** Unmounts the page; the application's request handlers get every request again. */
  readonly close: () => Promise<void>
}

/**
 * Serves the dashboard below `options.path` of `server` (a `node:http`/`node:https` server, what Express's
 * `app.listen()` or `@hono/node-server`'s `serve()` return, or a Fastify instance), its config naming the
 * runtime `attach`ed at `options.arcpPath` of the same server. Other requests stay the application's.
 */
export const attachDashboard = async (
  server: DashboardMount.RequestSource | { readonly server: DashboardMount.RequestSource },
  options: AttachDashboardOptions
): Promise<MountedDashboard> => {
  const source = "server" in server ? server.server : server
  const scope = Effect.runSync(Scope.make())
  await run(Scope.extend(DashboardMount.attach(source, options), scope))
  return {
    path: `/${options.path.replace(/^\/+|\/+$/g, "")}/`,
    close: () => Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

/** The dashboard below `options.path` as a `(req, res, next)` middleware; requests outside go to `next`. */
export const dashboardHandler = async (options: AttachDashboardOptions): Promise<DashboardMount.DashboardHandler> =>
  run(DashboardMount.handler(options))
