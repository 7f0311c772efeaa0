/**
 * A TCP relay between a client and a runtime, for tests that cut a connection the way a flaky network
 * does: every connection through it is piped to the target, and `cut` destroys them all (the next dial
 * goes through again).
 */
import { Effect } from "effect"
import net from "node:net"
import { join } from "node:path"
import { createServer, type CreateServerOptions, type PromiseServer } from "../../src/client/promise/Promise.js"
import type { Tool } from "../../src/runtime/Tools.js"
import { makeTempDir } from "./TempDir.js"

export interface Relay {
  /** `ws://127.0.0.1:<relay port>` */
  readonly url: string
  /** Destroys every connection open through the relay now. */
  readonly cut: () => void
  /** How many client connections it has taken so far. */
  readonly accepted: () => number
  /**
   * Makes the next connection slow: what the client sends after its first chunk (the WebSocket upgrade) is held
   * back for `ms`, as a congested network would hold a `session.open`.
   */
  readonly stallNext: (ms: number) => void
  /** Cuts the next connection as soon as the client sends its first frame after the upgrade (a `session.open`). */
  readonly dropNext: () => void
  readonly close: () => Promise<void>
}

/** A relay to the WebSocket runtime at `target` (`ws://host:port`). */
export const relayTo = async (target: string): Promise<Relay> => {
  const upstreamUrl = new URL(target)
  const open = new Set<net.Socket>()
  let accepted = 0
  // what happens to the next connection after its upgrade: held back `ms`, or cut at the client's first frame
  let next: { readonly stall: number } | "drop" | undefined
  const server = net.createServer((client) => {
    accepted++
    const fate = next
    next = undefined
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
    upstream.pipe(client)
    if (fate === undefined) client.pipe(upstream)
    else {
      client.once("data", (upgrade) => {
        upstream.write(upgrade)
        if (fate === "drop") client.once("data", cut)
        else {
          client.pause()
          setTimeout(() => client.pipe(upstream), fate.stall)
        }
      })
    }
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
    stallNext: (ms) => {
      next = { stall: ms }
    },
    dropNext: () => {
      next = "drop"
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of open) socket.destroy()
        server.close(() => resolve())
      })
  }
}

/** A runtime on a real SQLite file (bearer `tok-a` for alice) with a relay in front of it. */
export interface RelayedRuntime {
  readonly server: PromiseServer
  readonly relay: Relay
  /** Closes the relay, then the runtime, and removes its files. */
  readonly close: () => Promise<void>
}

/** Starts a runtime serving `tools` on a SQLite file in a fresh temp folder, and a relay to it. */
export const openRelayedRuntime = async (
  tools: ReadonlyArray<Tool>,
  options: Omit<CreateServerOptions, "port" | "db" | "logLevel" | "auth" | "tools"> = {}
): Promise<RelayedRuntime> => {
  const { dir, remove } = makeTempDir("arcp-relayed-")
  const server = await createServer({
    port: 0,
    db: join(dir, "arcp.db"),
    logLevel: "none",
    auth: { bearer: new Map([["tok-a", "alice"]]) },
    tools,
    ...options
  })
  const relay = await relayTo(server.address)
  return {
    server,
    relay,
    close: async () => {
      await relay.close()
      await server.close()
      remove()
    }
  }
}

/** `openRelayedRuntime` for the life of the scope. */
export const relayedRuntime = (
  tools: ReadonlyArray<Tool>,
  options: Omit<CreateServerOptions, "port" | "db" | "logLevel" | "auth" | "tools"> = {}
) =>
  Effect.acquireRelease(
    Effect.promise(() => openRelayedRuntime(tools, options)),
    (runtime) => Effect.promise(runtime.close)
  )
