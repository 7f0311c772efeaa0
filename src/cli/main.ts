/** The `arcp` command line: `version`, `validate` (more commands join as the runtime grows). */
import { Args, Command, Options } from "@effect/cli"
import { FileSystem } from "@effect/platform"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Console, Data, Effect, Stream } from "effect"
import { ARCP_VERSION } from "../protocol/Envelope.js"
import { formatVerdict, validateText } from "./Validate.js"

/** The package version, printed by `arcp version`. */
export const VERSION = "0.1.0"

/** Ends the process with a status code, without an error report (the command already said why). */
class ExitCode extends Data.TaggedError("ExitCode")<{ readonly code: number }> {}

const version = Command.make("version", {}, () =>
  Console.log(`arcp ${VERSION} (ARCP protocol ${ARCP_VERSION})`))

const readInput = (file: string) =>
  file === "-"
    ? Stream.fromAsyncIterable(process.stdin, (e) => new Error(String(e))).pipe(
      Stream.decodeText(),
      Stream.mkString,
      Stream.runHead,
      Effect.map((o) => (o._tag === "Some" ? o.value : "")),
      Effect.orDie
    )
    : Effect.flatMap(FileSystem.FileSystem, (fs) => fs.readFileString(file))

const validate = Command.make(
  "validate",
  {
    file: Args.text({ name: "FILE" }).pipe(Args.withDefault("-"), Args.withDescription("A transcript file, or - for stdin")),
    allowExperimental: Options.boolean("allow-experimental").pipe(
      Options.withDescription("Accept bare x- extension keys (transport-internal experiments)")
    )
  },
  ({ allowExperimental, file }) =>
    Effect.gen(function*() {
      const verdicts = validateText(yield* readInput(file), { allowExperimental })
      for (const v of verdicts) yield* Console.log(formatVerdict(v))
      if (verdicts.some((v) => v._tag === "Invalid")) return yield* new ExitCode({ code: 1 })
    })
).pipe(Command.withDescription("Check envelopes: prints `ok <type>` or `error <line> <CODE> <path>: <reason>` per envelope"))

const arcp = Command.make("arcp").pipe(Command.withSubcommands([version, validate]))

const cli = Command.run(arcp, { name: "arcp", version: VERSION })

cli(process.argv).pipe(
  Effect.catchTag("ExitCode", (e) => Effect.sync(() => { process.exitCode = e.code })),
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain
)
