// `arcp serve`'s layers from the compiled dist/ modules (what users run, unbundled so a CPU profile names
// functions and files), on a WebSocket port with the demo tools, SQLite log in the given file (argv[2],
// default in memory). The server half of bench/idle, and what to profile (`node --cpu-prof`). Plain Node, no tsx: tsx keeps function names, which gives
// every closure a property store and inflates a heap measured through it. Run with --expose-gc. Prints
// its URL, then on each line read from stdin prints the heap/RSS after a forced GC (JSON); `snapshot FILE`
// writes a heap snapshot first.
import { Effect, Logger, LogLevel } from "effect"
import { createInterface } from "node:readline"
import { writeHeapSnapshot } from "node:v8"
import * as DemoTools from "../../dist/cli/demoTools.js"
import * as Server from "../../dist/runtime/Server.js"
import { Acceptor } from "../../dist/transport/Transport.js"

const gc = globalThis.gc ?? (() => {})
const measure = async () => {
  for (let i = 0; i < 4; i++) {
    await new Promise((r) => setTimeout(r, 100))
    gc()
  }
  const { heapUsed, rss, external, arrayBuffers } = process.memoryUsage()
  return { heapUsed, rss, external: external + arrayBuffers }
}

const server = Server.layer({
  auth: { bearer: new Map([["tok", "alice"]]) },
  transport: { kind: "ws", host: "127.0.0.1", port: 0 },
  db: process.argv[2] ?? ":memory:",
  tools: [DemoTools.echo, DemoTools.ticker, DemoTools.sleep, DemoTools.stream]
})

await Effect.runPromise(Effect.gen(function*() {
  const { address } = yield* Acceptor
  console.log(JSON.stringify({ url: address }))
  yield* Effect.promise(() =>
    new Promise((done) => {
      const lines = createInterface({ input: process.stdin })
      lines.on("line", async (line) => {
        const [command, file] = line.split(" ")
        if (command === "snapshot" && file !== undefined) writeHeapSnapshot(file)
        console.log(JSON.stringify(await measure()))
      })
      lines.on("close", done)
    })
  )
}).pipe(Effect.provide(server), Effect.scoped, Logger.withMinimumLogLevel(LogLevel.None)))
