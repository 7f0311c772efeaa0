/**
 * A TCP relay between a client and a runtime, for tests that cut a connection the way a flaky network
 * does: every connection through it is piped to the target, and `cut` destroys them all (the next dial
 * goes through again).
 */
import net from "node:net"

export interface Relay {
  /** `ws://127.0.0.1:<relay port>` */
  readonly url: string
  /** Destroys every connection open through the relay now. */
  readonly cut: () => void
  /** How many client connections it has taken so far. */
  readonly accepted: () => number
  readonly close: () => Promise<void>
}

/** A relay to the WebSocket runtime at `target` (`ws://host:port`). */
export const relayTo = async (target: string): Promise<Relay> => {
  const upstreamUrl = new URL(target)
  const open = new Set<net.Socket>()
  let accepted = 0
  const server = net.createServer((client) => {
    accepted++
    const upstream = net.connect(Number(upstreamUrl.port), upstreamUrl.hostname)
    const cut = () => {
      client.destroy()
      upstream.destroy()
    }
    for (const socket of [client, upstream]) {
      open.add(socket)
      socket.on("error", cut)
      socket.on("close", () => {
        open.delete(socket)
        cut()
      })
    }
    client.pipe(upstream).pipe(client)
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const address = server.address()
  const port = typeof address === "object" && address !== null ? address.port : 0
  return {
    url: `ws://127.0.0.1:${port}`,
    cut: () => {
      for (const socket of open) socket.destroy()
      open.clear()
    },
    accepted: () => accepted,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of open) socket.destroy()
        server.close(() => resolve())
      })
  }
}
