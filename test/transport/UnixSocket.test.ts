/** The Unix socket transport's own promises: stale files, permissions, removal, many clients, text-only framing. */
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Either, Exit, Layer, Scope, Stream } from "effect"
import { spawn } from "node:child_process"
import { existsSync, lstatSync, writeFileSync } from "node:fs"
import { Acceptor, type Connection } from "../../src/transport/Transport.js"
import * as UnixSocket from "../../src/transport/UnixSocket.js"
import { socketPath } from "../support/Sockets.js"

/** Echoes every text frame back with a prefix, on every connection. */
const echoing = (acceptor: Acceptor["Type"]) =>
  acceptor.run((connection) =>
    connection.incoming.pipe(
      Stream.runForEach((frame) =>
        frame._tag === "Text" ? connection.send(`echo ${frame.text}`) : connection.send(`too large ${frame._tag}`)
      ),
      Effect.ignore
    )
  ).pipe(Effect.forkScoped)

const firstText = (connection: Connection) =>
  connection.incoming.pipe(Stream.take(1), Stream.runCollect, Effect.map(Chunk.toReadonlyArray))

/** Builds the server layer in its own scope, so a test can stop it and look at what it left. */
const start = (options: UnixSocket.ServerOptions) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const context = yield* Layer.buildWithScope(UnixSocket.layer(options), scope)
    return { acceptor: Layer.succeedContext(context), stop: Scope.close(scope, Exit.void), scope }
  })

/** Starts a node process listening on `path` and SIGKILLs it: the socket file is left behind, as after a crash. */
const crashedServer = (path: string) =>
  Effect.async<void>((resume) => {
    const child = spawn(process.execPath, [
      "-e",
      `require("node:net").createServer().listen(${JSON.stringify(path)}, () => console.log("up"))`
    ], { stdio: ["ignore", "pipe", "inherit"] })
    child.stdout.once("data", () => child.kill("SIGKILL"))
    child.once("exit", () => resume(Effect.void))
  })

const modeOf = (path: string) => lstatSync(path).mode & 0o777

describe("R4.1-5 R4.1-6 Unix socket transport", () => {
  it.scopedLive("the socket is owner-only (0600) by default, takes --socket-mode, and is removed on shutdown", () =>
    Effect.gen(function*() {
      const path = socketPath()
      const server = yield* start({ path })
      assert.isTrue(lstatSync(path).isSocket())
      assert.strictEqual(modeOf(path), 0o600)
      yield* server.stop
      assert.isFalse(existsSync(path), "removed on shutdown")
      const shared = socketPath()
      const group = yield* start({ path: shared, mode: 0o660 })
      assert.strictEqual(modeOf(shared), 0o660)
      yield* group.stop
      assert.isFalse(existsSync(shared))
    }))

  it.scopedLive("a live server's socket is never taken over; a dead one's stale file is replaced; other files are refused", () =>
    Effect.gen(function*() {
      const path = socketPath()
      const first = yield* start({ path })
      const second = yield* Effect.either(start({ path }))
      assert.isTrue(Either.isLeft(second))
      if (Either.isLeft(second)) assert.match(second.left.message, /already listening/)
      assert.isTrue(lstatSync(path).isSocket(), "the live server's socket is left alone")
      yield* first.stop

      // a server killed before it could clean up: its socket file stays, nobody answers on it
      const stale = socketPath()
      yield* crashedServer(stale)
      assert.isTrue(lstatSync(stale).isSocket(), "the stale file exists")
      const replaced = yield* start({ path: stale })
      yield* echoing(yield* Effect.provide(Acceptor, replaced.acceptor))
      const connection = yield* UnixSocket.connect(`unix://${stale}`)
      yield* connection.send("hi")
      assert.deepStrictEqual(yield* firstText(connection), [{ _tag: "Text", text: "echo hi" }])

      const regular = socketPath()
      writeFileSync(regular, "not a socket")
      const refused = yield* Effect.either(start({ path: regular }))
      assert.isTrue(Either.isLeft(refused))
      if (Either.isLeft(refused)) assert.match(refused.left.message, /not a socket/)
      assert.isTrue(existsSync(regular), "a file that is not a socket is never removed")
    }))

  it.scopedLive("many clients at once, each on its own connection; frames are lines, binary is refused (base64 only)", () =>
    Effect.gen(function*() {
      const path = socketPath()
      const server = yield* start({ path, maxFrameBytes: 64 })
      yield* echoing(yield* Effect.provide(Acceptor, server.acceptor))
      const clients = yield* Effect.forEach(Array.from({ length: 12 }, (_, i) => i), (i) =>
        Effect.gen(function*() {
          const connection = yield* UnixSocket.connect(path)
          yield* connection.send(`client ${i}`)
          return yield* firstText(connection)
        }), { concurrency: "unbounded" })
      assert.deepStrictEqual(
        clients,
        Array.from({ length: 12 }, (_, i) => [{ _tag: "Text", text: `echo client ${i}` }])
      )
      const connection = yield* UnixSocket.connect(path)
      assert.isFalse(connection.binary)
      const binary = yield* Effect.either(connection.send(new Uint8Array([1, 2, 3])))
      assert.isTrue(Either.isLeft(binary) && binary.left.reason === "Unsupported")
      // an oversized line is reported (and answered by the runtime), the connection lives on
      yield* connection.send("x".repeat(200))
      assert.deepStrictEqual(yield* firstText(connection), [{ _tag: "Text", text: "too large TooLarge" }])
    }))

  it.scopedLive("connecting where nobody listens fails with a TransportError naming the path", () =>
    Effect.gen(function*() {
      const path = socketPath()
      const failed = yield* Effect.flip(UnixSocket.connect(`unix://${path}`))
      assert.strictEqual(failed.reason, "Open")
      assert.include(failed.message, path)
    }))

  it("named pipe paths are recognised (no file to check, chmod or remove)", () => {
    assert.isTrue(UnixSocket.isNamedPipe("\\\\.\\pipe\\arcp"))
    assert.isFalse(UnixSocket.isNamedPipe("/run/arcp.sock"))
    assert.strictEqual(UnixSocket.pathOf("unix:///run/arcp.sock"), "/run/arcp.sock")
    assert.strictEqual(UnixSocket.urlOf("/run/arcp.sock"), "unix:///run/arcp.sock")
  })
})
