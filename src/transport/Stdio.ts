/**
 * stdio transport (RFC §22, mandatory): newline-delimited JSON (`Lines`) over
 * any readable/writable pair — the process's own stdin/stdout for `arcp serve
 * --transport stdio`, or a child's pipes for a client. Text frames only, so
 * binary data travels base64 in the envelope (§11.3).
 */
import { Effect, Layer, type Scope } from "effect"
import type { Readable, Writable } from "node:stream"
import * as Lines from "./Lines.js"
import * as StderrConsole from "./StderrConsole.js"
import { Acceptor, type Connection } from "./Transport.js"

export interface Options {
  readonly input: Readable
  readonly output: Writable
  readonly maxFrameBytes?: number | undefined
  readonly label?: string | undefined
}

/** A connection over a readable/writable pair; listeners are removed when the scope closes. */
export const make = (options: Options): Effect.Effect<Connection, never, Scope.Scope> =>
  Lines.make({ ...options, label: options.label ?? "stdio" })

/**
 * An acceptor that serves exactly one connection over the given pair (the process's stdio for `arcp
 * serve`). The layer also routes the Effect Console, and so the default logger, to stderr: a runtime
 * served over stdout must never write a log line between its frames.
 */
export const layer = (options: Options): Layer.Layer<Acceptor> =>
  Layer.merge(
    Layer.succeed(
      Acceptor,
      Acceptor.of({
        address: options.label ?? "stdio",
        run: (handler) => make(options).pipe(Effect.flatMap(handler), Effect.scoped)
      })
    ),
    StderrConsole.layer
  )
