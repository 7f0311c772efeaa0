/**
 * Several transports serving one runtime: `Combined.layer([WebSocket.layer(..),
 * UnixSocket.layer(..)])` is one `Acceptor` whose `run` serves every
 * connection of every part with the same handler — the same runtime, sessions
 * and event log whichever way a client came in.
 */
import { Context, Effect, Layer } from "effect"
import { Acceptor } from "./Transport.js"

/** The parts' addresses are joined with a space: `ws://127.0.0.1:7777 unix:///run/arcp.sock`. */
export const addressesOf = (address: string): ReadonlyArray<string> => address.split(" ").filter((a) => a !== "")

/** One acceptor over all of `layers`, each opened in turn and closed with the layer (in reverse order). */
export const layer = <E>(layers: ReadonlyArray<Layer.Layer<Acceptor, E>>): Layer.Layer<Acceptor, E> =>
  Layer.scoped(
    Acceptor,
    Effect.gen(function*() {
      const parts = yield* Effect.forEach(layers, (part) => Effect.map(Layer.build(part), Context.get(Acceptor)))
      return Acceptor.of({
        address: parts.map((p) => p.address).join(" "),
        // one part failing stops them all: a server half-up is worse than one that says it stopped
        run: (handler) => Effect.forEach(parts, (p) => p.run(handler), { concurrency: "unbounded", discard: true })
      })
    })
  )
