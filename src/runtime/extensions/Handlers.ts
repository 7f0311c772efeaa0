/**
 * The extension-handler table (§21.2): each advertised extension this runtime
 * implements has one handler, which gets every message of that extension's
 * types (`<name>` and `<name>.<sub-type>`) once the session negotiated it.
 */
import type { Effect } from "effect"
import type { ArcpError } from "../../protocol/Errors.js"
import type { ExtensionMessage } from "../../protocol/Message.js"
import type { RouteContext } from "../Router.js"

/** Handles the messages of one extension; an `ArcpError` failure is answered with `nack`. */
export interface ExtensionHandler {
  /** The versioned extension name (`arcpx.arcp.tools.v1`), as listed in `capabilities.extensions`. */
  readonly extension: string
  readonly handle: (message: ExtensionMessage, ctx: RouteContext) => Effect.Effect<void, ArcpError>
}

export type ExtensionTable = ReadonlyArray<ExtensionHandler>

/** The handler of the extension `type` belongs to (equal to its name, or a sub-type of it). */
export const handlerFor = (table: ExtensionTable, type: string): ExtensionHandler | undefined =>
  table.find((h) => type === h.extension || type.startsWith(`${h.extension}.`))
