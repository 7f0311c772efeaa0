/**
 * No load makes V8 initial maps in proportion to its size (issue 12). A `function*` evaluated per call
 * (`Effect.gen(function*() {...})` inside a function) gets its own prototype and, at its first call, its own
 * initial map; the map is made in the old generation and, until the next full GC, keeps the call's objects
 * alive: half of what the young generation promoted, and 1.4x the time of the same small Effect
 * (bench/generators). Generator functions are made once instead (`Effect.fnUntraced`, generator methods). V8
 * logs each map it makes (`--log-maps`): the server, built as users run it, is given echoes, ticker events and
 * sessions over a real WebSocket, and the initial maps it logs must not grow with them. (A handshake still
 * makes a few other maps, through Effect's `Deferred`s: docs/benchmarks.md.)
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import * as Client from "../../src/client/Client.js"
import * as WebSocket from "../../src/transport/WebSocket.js"
import { exitOf, root, serveWs } from "../support/Child.js"
import { tempDir } from "../support/TempDir.js"

const bundle = join(root, "dist", "arcp.cjs")

/** The initial maps V8 has logged so far (a constructor's or generator function's first instance). */
const initialMaps = (log: string) =>
  readFileSync(log, "latin1").split("\n").filter((l) => l.startsWith("map,InitialMap,")).length

/**
 * What the server is given: `n` echoes (8 at a time), `n` ticker events in one job, `n` stream chunks in another and
 * `n / 10` sessions opened and closed.
 */
const work = (address: string, n: number) =>
  Effect.scoped(Effect.gen(function*() {
    const open = Effect.flatMap(
      WebSocket.connect(address),
      (c) => Client.connect(c, { credentials: { scheme: "bearer", token: "tok" } })
    )
    const session = yield* open
    yield* Effect.forEach(
      Array.from({ length: n }, (_, i) => i),
      (i) => Effect.scoped(Effect.flatMap(session.invoke("echo", { i }), (job) => job.outcome)),
      { concurrency: 8, discard: true }
    )
    yield* Effect.scoped(Effect.flatMap(session.invoke("ticker", { count: n }), (job) => job.outcome))
    yield* Effect.scoped(Effect.flatMap(session.invoke("stream", { chunks: n }), (job) => job.outcome))
    yield* Effect.forEach(
      Array.from({ length: n / 10 }, (_, i) => i),
      () => Effect.scoped(Effect.flatMap(open, (s) => s.close())),
      { discard: true }
    )
  }))

/** The initial maps V8 logged in a fresh server given `work(n)`, read once it has exited. */
const mapsAfter = (n: number) =>
  Effect.gen(function*() {
    const dir = yield* tempDir("arcp-maps-")
    const log = join(dir, "v8.log")
    // V8 buffers its log, and writes the rest when the process ends as SIGTERM ends it (gracefully): it is read then
    const { address, child } = yield* Effect.promise(() =>
      serveWs(
        // in memory: a SQLite file starts a checkpoint thread, whose isolate would write the same log
        ["--db", ":memory:", "--bearer", "tok=alice"],
        {},
        // the bundle itself, not through bin/arcp.js: the loader's code cache is made for other V8 flags, and a
        // run that rejects it writes a new one
        ["--log-maps", "--no-log-maps-details", `--logfile=${log}`, "--no-logfile-per-isolate", bundle]
      )
    )
    // whatever happens to the test, the server does not outlive it (killing an exited process does nothing)
    yield* Effect.addFinalizer(() => Effect.sync(() => child.kill("SIGKILL")))
    const exited = exitOf(child)
    yield* work(address, n)
    child.kill("SIGTERM")
    const code = yield* exited.pipe(
      Effect.timeoutFail({ duration: "20 seconds", onTimeout: () => new Error("the server did not exit") })
    )
    assert.strictEqual(code, 0)
    return initialMaps(log)
  })

describe("hidden classes", () => {
  it.scopedLive(
    "echoes, ticker events, stream chunks and handshakes make no new hidden class: the count V8 logs does not grow with them",
    () =>
      Effect.gen(function*() {
        // the first of each make the maps of first-time code (classes, literals), as any program does: the same in both
        const few = yield* mapsAfter(100)
        const many = yield* mapsAfter(500)
        // 3,266 more before this test (six `function*` evaluated per echo in the bundle, one per ticker event)
        assert.isBelow(
          many - few,
          40,
          `${many - few} more initial maps for 400 more echoes, ticks and stream chunks, 40 more sessions`
        )
      }),
    120_000
  )
})
