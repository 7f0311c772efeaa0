/**
 * 100 MB through a spawned `arcp serve` over a real WebSocket (RFC §16, §11.3): streamed both ways as
 * sidecar frames, the server's peak RSS staying well under the artifact's size; artifacts on disk
 * survive a restart of the server; make_artifact answers with result_ref; stdio offers base64 only.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Stream } from "effect"
import { type ChildProcess } from "node:child_process"
import { createHash } from "node:crypto"
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import * as Client from "../../../src/client/Client.js"
import { isCore } from "../../../src/protocol/Message.js"
import * as WebSocket from "../../../src/transport/WebSocket.js"
import { exitOf, serveWs, spawnServe } from "../../support/Child.js"
import { tempDir } from "../../support/TempDir.js"

const MB = 1024 * 1024

/** Peak resident memory of a process in bytes (Linux /proc), if it can be read. */
const peakRss = (pid: number | undefined): number | undefined => {
  if (pid === undefined || !existsSync(`/proc/${pid}/status`)) return undefined
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))
  return match?.[1] === undefined ? undefined : Number(match[1]) * 1024
}

/** `size` deterministic pseudo-random bytes in 256 KiB chunks, generated as they are pulled. */
const generated = (size: number) => {
  let state = 0x9e3779b9
  return Stream.unfold(0, (offset) => {
    if (offset >= size) return Option.none()
    const chunk = new Uint8Array(Math.min(256 * 1024, size - offset))
    for (let i = 0; i < chunk.length; i++) {
      state ^= state << 13
      state ^= state >>> 17
      state ^= state << 5
      chunk[i] = state & 0xff
    }
    return Option.some([chunk, offset + chunk.length] as const)
  })
}

const digestOf = <E>(bytes: Stream.Stream<Uint8Array, E>) =>
  Effect.gen(function*() {
    const hash = createHash("sha256")
    let size = 0
    yield* Stream.runForEach(bytes, (chunk) =>
      Effect.sync(() => {
        size += chunk.byteLength
        hash.update(chunk)
      }))
    return { size, sha256: hash.digest("hex") }
  })

const TOKEN = "big-token"
const start = (dir: string) =>
  Effect.acquireRelease(
    Effect.promise(() => serveWs(["--db", join(dir, "arcp.db"), "--bearer", `${TOKEN}=alice`])),
    ({ child }) => stop(child)
  )
const stop = (child: ChildProcess) =>
  Effect.suspend(() => {
    if (child.exitCode !== null || child.signalCode !== null) return Effect.void
    child.kill("SIGTERM")
    return exitOf(child).pipe(Effect.timeout("10 seconds"), Effect.ignore)
  })
const session = (address: string) =>
  Effect.flatMap(
    WebSocket.connect(address),
    (connection) => Client.connect(connection, { credentials: { scheme: "bearer", token: TOKEN } })
  )

describe("artifacts through a spawned server", () => {
  it.scopedLive(
    "R16.3-3 R22-2 100 MB put and fetch stream through; server peak RSS grows less than the artifact",
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDir("arcp-big-")
        const { address, child } = yield* start(dir)
        const client = yield* session(address)
        // warm up: the code paths run once before the baseline is taken
        const small = yield* client.putArtifact(
          yield* Stream.runCollect(generated(MB)).pipe(
            Effect.map((c) => new Uint8Array(Buffer.concat([...c])))
          ),
          { mediaType: "application/octet-stream" }
        )
        yield* digestOf(client.fetchArtifact(small))
        const baseline = peakRss(child.pid)
        const sent = yield* digestOf(generated(100 * MB))
        const ref = yield* client.putArtifact(generated(100 * MB), { mediaType: "application/octet-stream" })
        assert.strictEqual(ref.size, 100 * MB)
        assert.strictEqual(ref.sha256, sent.sha256)
        const back = yield* digestOf(client.fetchArtifact(ref))
        assert.deepStrictEqual(back, sent)
        const peak = peakRss(child.pid)
        if (baseline !== undefined && peak !== undefined) {
          // what remains is garbage V8 has not yet collected (it waits for ~64 MB of dead external buffers):
          // bench/artifacts shows the same growth for 100 and 200 MB (the transfer is never held)
          const grown = peak - baseline
          assert.isBelow(grown, 96 * MB, `server peak RSS grew ${Math.round(grown / MB)} MB moving 100 MB each way`)
        }
        // the bytes are one content-addressed file on disk
        const path = join(dir, "arcp.artifacts", ref.sha256?.slice(0, 2) ?? "", ref.sha256 ?? "")
        assert.isTrue(existsSync(path))
      }),
    300_000
  )

  it.scopedLive(
    "R16.3-3 R16.1-1 artifacts survive a server restart; make_artifact returns {result_ref}",
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDir("arcp-restart-")
        const ref = yield* Effect.scoped(Effect.gen(function*() {
          const { address, child } = yield* start(dir)
          const client = yield* session(address)
          const job = yield* client.invoke("make_artifact", { size: 3 * MB + 5, media_type: "application/x-demo" })
          const events = yield* Stream.runCollect(job.events)
          const terminal = [...events].at(-1)
          assert.strictEqual(terminal?.type, "tool.result")
          if (terminal === undefined || !isCore(terminal) || terminal.type !== "tool.result") {
            return yield* Effect.die("no result")
          }
          assert.isUndefined(terminal.payload.value)
          const made = terminal.payload.result_ref
          assert.isDefined(made)
          if (made === undefined) return yield* Effect.die("no result_ref")
          assert.strictEqual(made.size, 3 * MB + 5)
          assert.strictEqual(made.media_type, "application/x-demo")
          yield* client.close()
          yield* stop(child)
          return made
        }))
        const { address } = yield* start(dir)
        const client = yield* session(address)
        const back = yield* digestOf(client.fetchArtifact(ref))
        assert.deepStrictEqual(back, { size: ref.size, sha256: ref.sha256 })
      }),
    120_000
  )

  it.scopedLive(
    "R11.3-5 R22-3 over stdio only base64 is offered; a small artifact still goes inline",
    () =>
      Effect.gen(function*() {
        const child = yield* spawnServe(["--bearer", "t=alice"])
        const client = yield* Client.connect(child.connection, { credentials: { scheme: "bearer", token: "t" } }).pipe(
          Effect.orDie
        )
        assert.deepStrictEqual(client.capabilities.binary_encoding, ["base64"])
        const ref = yield* client.putArtifact(new Uint8Array([1, 2, 3]), { mediaType: "x/y" })
        assert.deepStrictEqual(yield* digestOf(client.fetchArtifact(ref)), { size: 3, sha256: ref.sha256 })
      }),
    60_000
  )
})
