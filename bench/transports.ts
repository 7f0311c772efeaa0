/**
 * bench/transports: `echo` invocations per second at 1 and 64 in flight over
 * each transport side by side — memory (the baseline: no bytes move), stdio
 * framing over in-process pipes, WebSocket, Unix socket, HTTP/2 h2c and
 * HTTP/2 over TLS — with the client and server in this process and an
 * in-memory event log, so the differences are the transports'. Prints
 * numbers and ratios to memory; asserts nothing.
 */
import { Effect, Layer, Logger, LogLevel, Option, type Scope } from "effect"
import { execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { PassThrough } from "node:stream"
import * as DemoTools from "../src/cli/demoTools.js"
import * as Client from "../src/client/Client.js"
import * as Auth from "../src/runtime/auth/Auth.js"
import * as Runtime from "../src/runtime/Runtime.js"
import * as Tools from "../src/runtime/Tools.js"
import * as MemoryArtifactStore from "../src/store/MemoryArtifactStore.js"
import * as MemoryEventLog from "../src/store/MemoryEventLog.js"
import * as Http2 from "../src/transport/Http2.js"
import * as Memory from "../src/transport/Memory.js"
import * as Stdio from "../src/transport/Stdio.js"
import { Acceptor, type Connection, type TransportError } from "../src/transport/Transport.js"
import * as UnixSocket from "../src/transport/UnixSocket.js"
import * as WebSocket from "../src/transport/WebSocket.js"
import { load, report, SECONDS } from "./support/load.js"

const dir = mkdtempSync(join(tmpdir(), "arcp-bench-transports-"))

/** A throwaway self-signed certificate, or none when there is no openssl binary. */
const tls = (() => {
  try {
    const cert = join(dir, "cert.pem")
    const key = join(dir, "key.pem")
    execFileSync("openssl", [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=IP:127.0.0.1",
      "-keyout",
      key,
      "-out",
      cert
    ], { stdio: "ignore" })
    return { cert: readFileSync(cert, "utf8"), key: readFileSync(key, "utf8") }
  } catch {
    return undefined
  }
})()

interface Case {
  readonly name: string
  readonly transport: Layer.Layer<Acceptor, TransportError>
  /** Dials the case's acceptor (its address is known once it listens). */
  readonly dial: (address: string) => Effect.Effect<Connection, TransportError, Scope.Scope>
}

const memory = Memory.layer()
const c2s = new PassThrough()
const s2c = new PassThrough()

const cases: ReadonlyArray<Case> = [
  // dialled through the MemoryNetwork the server's layer provides
  { name: "memory", transport: memory, dial: () => Effect.die("memory is dialled through its network") },
  {
    name: "stdio framing (in-process pipes)",
    transport: Stdio.layer({ input: c2s, output: s2c }),
    dial: () => Stdio.make({ input: s2c, output: c2s })
  },
  { name: "WebSocket", transport: WebSocket.layer({ port: 0 }), dial: (a) => WebSocket.connect(a) },
  {
    name: "Unix socket",
    transport: UnixSocket.layer({ path: join(dir, "bench.sock") }),
    dial: (a) => UnixSocket.connect(a)
  },
  { name: "HTTP/2 h2c", transport: Http2.layer({ port: 0 }), dial: (a) => Http2.connect(a) },
  ...(tls === undefined ? [] : [{
    name: "HTTP/2 TLS",
    transport: Http2.layer({ port: 0, tls }),
    dial: (a: string) => Http2.connect(a, { ca: tls.cert })
  }])
]

/** Runs one case: the rates at 1 and 64 in flight (`quiet`: a warm-up of the whole runtime, nothing printed). */
const measure = (c: Case, quiet = false) =>
  Effect.gen(function*() {
    const acceptor = yield* Acceptor
    const network = yield* Effect.serviceOption(Memory.MemoryNetwork)
    const connection = Option.isSome(network) ? yield* network.value.connect : yield* c.dial(acceptor.address)
    const session = yield* Client.connect(connection, { credentials: { scheme: "bearer", token: "bench" } })
    const invoke = Effect.scoped(Effect.flatMap(session.invoke("echo", { query: "*.ts", page: 1 }), (j) => j.outcome))
    yield* load(invoke, 8, quiet ? 3 : 1) // warm-up
    if (quiet) return []
    const rates: Array<number> = []
    for (const inFlight of [1, 64]) {
      const { elapsed, latencies } = yield* load(invoke, inFlight)
      rates.push(report(`${c.name}, ${inFlight} in flight`, latencies, elapsed))
    }
    return rates
  }).pipe(
    Effect.scoped,
    Effect.provide(
      Runtime.serve.pipe(
        Layer.provideMerge(Runtime.layer({})),
        Layer.provide(Layer.mergeAll(
          Auth.layer({ audience: "arcp://runtime", bearer: new Map([["bench", "bench"]]) }),
          MemoryEventLog.layer,
          MemoryArtifactStore.layer,
          Tools.layer(DemoTools.all)
        )),
        Layer.provideMerge(c.transport)
      )
    )
  )

const main = Effect.gen(function*() {
  console.log(`bench/transports (${SECONDS} s per row; echo, in-memory event log, client and server in one process)`)
  if (tls === undefined) console.log("(no openssl binary: the HTTP/2 TLS rows are left out)")
  // the first case would otherwise also pay for warming up the runtime's own code
  const [first] = cases
  if (first !== undefined) yield* measure(first, true)
  const results: Array<readonly [string, ReadonlyArray<number>]> = []
  for (const c of cases) results.push([c.name, yield* measure(c)])
  const [, base = []] = results[0] ?? []
  console.log("\nrelative to memory (1 in flight / 64 in flight):")
  for (const [name, rates] of results) {
    const ratio = (i: number) => `${(((rates[i] ?? 0) / (base[i] ?? 1)) * 100).toFixed(0)}%`
    console.log(`  ${name.padEnd(36)} ${ratio(0).padStart(5)} / ${ratio(1).padStart(5)}`)
  }
}).pipe(
  Effect.ensuring(Effect.sync(() => rmSync(dir, { recursive: true, force: true }))),
  Logger.withMinimumLogLevel(LogLevel.Warning)
)

await Effect.runPromise(main)
