/**
 * `arcp artifact put FILE` / `arcp artifact get ID -o FILE`: uploads a file as
 * an artifact (sidecar frames over WebSocket, streamed) and prints its ref, or
 * downloads one. A progress bar goes to stderr on a terminal; piped, output is plain.
 */
import { Args, Command, Options } from "@effect/cli"
import * as FileSystem from "@effect/platform/FileSystem"
import { Console, Data, Effect, Option, Stream } from "effect"
import * as Connect from "./Connect.js"
import { ExitCode, setExitCode } from "./Failure.js"

/** A local problem (an unreadable file), said in one sentence. */
class CliError extends Data.TaggedError("CliError")<{ readonly message: string }> {}

const connectionOptions = Connect.options("arcp-cli")

/** A progress line on stderr when it is a terminal, redrawn at most once per percent; nothing when piped. */
const progress = (label: string, total: number | undefined) => {
  const tty = process.stderr.isTTY === true
  let done = 0
  let shown = -1
  const draw = (final: boolean) =>
    Effect.sync(() => {
      if (!tty) return
      const percent = total === undefined || total === 0 ? 100 : Math.floor((done / total) * 100)
      if (percent === shown && !final) return
      shown = percent
      const width = 30
      const filled = Math.round((percent / 100) * width)
      const mb = (n: number) => (n / 1e6).toFixed(1)
      process.stderr.write(
        `\r${label} [${"#".repeat(filled)}${".".repeat(width - filled)}] ${percent}% ${mb(done)}${
          total === undefined ? "" : `/${mb(total)}`
        } MB${final ? "\n" : ""}`
      )
    })
  return {
    track: <E, R>(bytes: Stream.Stream<Uint8Array, E, R>) =>
      Stream.tap(bytes, (chunk) =>
        Effect.suspend(() => {
          done += chunk.byteLength
          return draw(false)
        })),
    finish: Effect.suspend(() => draw(true))
  }
}

const run = <A, E extends { readonly _tag: string }, R>(effect: Effect.Effect<A, E, R>) =>
  effect.pipe(
    Effect.scoped,
    Effect.catchAll((e) => {
      const message = "message" in e ? String(e.message) : e._tag
      const said = e._tag === "ArcpError" && "code" in e
        ? `error ${String(e.code)}: ${message}`
        : e._tag === "TransportError"
        ? `cannot connect: ${message}`
        : e._tag === "ExitCode"
        ? undefined
        : `error: ${message}`
      return (said === undefined ? Effect.void : Console.error(said)).pipe(
        Effect.zipRight(Effect.fail(new ExitCode({ code: 1 })))
      )
    }),
    Effect.catchTag("ExitCode", setExitCode)
  )

const open = (o: Parameters<typeof Connect.open>[0]) => Connect.open(o, { kind: "arcp-cli" })

const put = Command.make("put", {
  ...connectionOptions,
  file: Args.text({ name: "FILE" }).pipe(Args.withDescription("the file to upload")),
  mediaType: Options.text("media-type").pipe(
    Options.withDefault("application/octet-stream"),
    Options.withDescription("the artifact's media type")
  ),
  ttl: Options.integer("ttl").pipe(Options.optional, Options.withDescription("seconds the artifact should live"))
}, (o) =>
  run(Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const info = yield* fs.stat(o.file).pipe(
      Effect.mapError(() => new CliError({ message: `cannot read ${o.file}: no such file or not readable` }))
    )
    const session = yield* open(o)
    const bar = progress("uploading", Number(info.size))
    const bytes = bar.track(fs.stream(o.file, { chunkSize: 256 * 1024 })).pipe(
      Stream.mapError((e) => new CliError({ message: `cannot read ${o.file}: ${e.message}` }))
    )
    const ref = yield* session.putArtifact(bytes, { mediaType: o.mediaType, ttlSeconds: Option.getOrUndefined(o.ttl) })
    yield* bar.finish
    yield* Console.log(JSON.stringify(ref))
    yield* session.close()
  }))).pipe(Command.withDescription("Upload FILE as an artifact and print its artifact.ref as JSON"))

const get = Command.make("get", {
  ...connectionOptions,
  id: Args.text({ name: "ID" }).pipe(Args.withDescription("the artifact id (art_...)")),
  output: Options.file("output").pipe(
    Options.withAlias("o"),
    Options.withDescription("where to write the bytes (written to FILE.partial, renamed when complete and checked)")
  )
}, (o) =>
  run(Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const session = yield* open(o)
    const partial = `${o.output}.partial`
    // the size is known once the fetch is answered; the bar counts what has arrived
    const bar = progress("downloading", undefined)
    const written = yield* Effect.scoped(Effect.gen(function*() {
      const file = yield* fs.open(partial, { flag: "w" })
      let total = 0
      yield* Stream.runForEach(bar.track(session.fetchArtifact(o.id)), (chunk) => {
        total += chunk.byteLength
        return file.writeAll(chunk)
      })
      return total
    })).pipe(Effect.tapError(() => fs.remove(partial).pipe(Effect.ignore)))
    yield* fs.rename(partial, o.output)
    yield* bar.finish
    yield* Console.log(`wrote ${written} bytes to ${o.output}`)
    yield* session.close()
  }))).pipe(Command.withDescription("Download artifact ID into the file given by -o"))

export const artifact = Command.make("artifact").pipe(
  Command.withSubcommands([put, get]),
  Command.withDescription("Upload (put) or download (get) artifacts")
)
