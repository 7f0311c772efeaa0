/** The `arcp` command line: `serve`, `send`, `artifact`, `validate`, `version`. */
import { Args, Command, Options } from "@effect/cli"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as FileSystem from "@effect/platform/FileSystem"
import { Cause, Console, Effect, Logger, LogLevel, Stream } from "effect"
import { stripVTControlCharacters } from "node:util"
import { VERSION, versionLine } from "../Version.js"
import { artifact } from "./Artifact.js"
import { ExitCode, report, setExitCode } from "./Failure.js"
import { mcp } from "./McpCommand.js"
import { send } from "./Send.js"
import { serve } from "./serve/Serve.js"
import { tail } from "./Tail.js"
import { tools } from "./ToolsCommand.js"
import { formatVerdict, unreadable, validateText } from "./Validate.js"

const version = Command.make("version", {}, () => Console.log(versionLine())).pipe(
  Command.withDescription("Print the package and protocol versions")
)

const readInput = (file: string) =>
  file === "-"
    ? Stream.fromAsyncIterable(process.stdin, (e) => new Error(String(e))).pipe(
      Stream.decodeText(),
      Stream.mkString,
      Stream.runHead,
      Effect.map((o) => (o._tag === "Some" ? o.value : "")),
      Effect.orDie // reading our own stdin failing is not something to recover from
    )
    : Effect.flatMap(FileSystem.FileSystem, (fs) => fs.readFileString(file))

const validate = Command.make(
  "validate",
  {
    file: Args.text({ name: "FILE" }).pipe(
      Args.withDefault("-"),
      Args.withDescription("A transcript file, or - for stdin")
    ),
    allowExperimental: Options.boolean("allow-experimental").pipe(
      Options.withDescription("Accept bare x- extension keys (transport-internal experiments)")
    )
  },
  ({ allowExperimental, file }) =>
    Effect.gen(function*() {
      // an unreadable file is one verdict line too, not a stack trace
      const verdicts = yield* readInput(file).pipe(
        Effect.map((text) => validateText(text, { allowExperimental })),
        Effect.catchAll((error) => Effect.succeed([unreadable(file, error)]))
      )
      for (const v of verdicts) yield* Console.log(formatVerdict(v))
      if (verdicts.some((v) => v._tag === "Invalid")) return yield* new ExitCode({ code: 1 })
    }).pipe(Effect.catchTag("ExitCode", setExitCode))
).pipe(
  Command.withDescription("Check envelopes: prints `ok <type>` or `error <line> <CODE> <path>: <reason>` per envelope")
)

const arcp = Command.make("arcp").pipe(
  Command.withSubcommands([serve, send, tail, tools, mcp, artifact, validate, version])
)

const cli = Command.run(arcp, { name: "arcp", version: VERSION })

// logs go to stderr: stdout carries protocol frames (stdio transport) or command output
const logger = Logger.replace(Logger.defaultLogger, Logger.prettyLogger({ stderr: true, colors: false }))

/** Colours only for a terminal that wants them: help and errors piped to a file or another program are plain text. */
const colours = (stream: NodeJS.WriteStream) => stream.isTTY === true && process.env["NO_COLOR"] === undefined
const plain = (keep: boolean) => (arg: unknown) => keep || typeof arg !== "string" ? arg : stripVTControlCharacters(arg)

const program = cli(process.argv).pipe(
  // the one place a failed command is explained (Failure.report): no error logging by runMain
  Effect.catchAllCause((cause) => Cause.isInterruptedOnly(cause) ? Effect.failCause(cause) : report(cause)),
  Effect.provide(NodeContext.layer),
  Effect.provide(logger),
  Logger.withMinimumLogLevel(process.env["ARCP_LOG_LEVEL"] === "debug" ? LogLevel.Debug : LogLevel.Info)
)

Effect.flatMap(Effect.console, (console) =>
  Effect.withConsole(program, {
    ...console,
    log: (...args) => console.log(...args.map(plain(colours(process.stdout)))),
    error: (...args) => console.error(...args.map(plain(colours(process.stderr))))
  })).pipe(NodeRuntime.runMain({ disablePrettyLogger: true, disableErrorReporting: true }))
