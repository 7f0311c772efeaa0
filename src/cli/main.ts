/** The `arcp` command line: `serve`, `send`, `validate`, `version`. */
import { Args, Command, Options } from "@effect/cli"
import { FileSystem } from "@effect/platform"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Logger, LogLevel, Stream } from "effect"
import { ARCP_VERSION } from "../protocol/Envelope.js"
import { VERSION } from "../Version.js"
import { mcp } from "./McpCommand.js"
import { ExitCode, send, setExitCode } from "./Send.js"
import { serve } from "./Serve.js"
import { tools } from "./ToolsCommand.js"
import { formatVerdict, unreadable, validateText } from "./Validate.js"

const version = Command.make("version", {}, () => Console.log(`arcp ${VERSION} (ARCP protocol ${ARCP_VERSION})`)).pipe(
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

const arcp = Command.make("arcp").pipe(Command.withSubcommands([serve, send, tools, mcp, validate, version]))

const cli = Command.run(arcp, { name: "arcp", version: VERSION })

// logs go to stderr: stdout carries protocol frames (stdio transport) or command output
const logger = Logger.replace(Logger.defaultLogger, Logger.prettyLogger({ stderr: true, colors: false }))

cli(process.argv).pipe(
  Effect.provide(NodeContext.layer),
  Effect.provide(logger),
  Logger.withMinimumLogLevel(process.env["ARCP_LOG_LEVEL"] === "debug" ? LogLevel.Debug : LogLevel.Info),
  NodeRuntime.runMain({ disablePrettyLogger: true })
)
