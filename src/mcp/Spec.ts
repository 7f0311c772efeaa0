/** Which MCP servers a runtime wraps (`arcp serve --mcp NAME=COMMAND...` or `--mcp NAME=https://...`). */
import { Either } from "effect"

/** An MCP server the runtime starts as a child process and speaks to over its stdio. */
export interface StdioSpec {
  readonly _tag: "Stdio"
  /** Its tools become ARCP tools `<name>.<tool>`. */
  readonly name: string
  readonly command: string
  readonly args: ReadonlyArray<string>
  /** Extra environment variables (besides the MCP SDK's safe default set: PATH, HOME, ...). */
  readonly env?: Readonly<Record<string, string>> | undefined
  readonly cwd?: string | undefined
}

/** An MCP server reached over streamable HTTP. */
export interface HttpSpec {
  readonly _tag: "Http"
  readonly name: string
  readonly url: string
}

export type McpServerSpec = StdioSpec | HttpSpec

const NAME = /^[A-Za-z0-9_-]{1,64}$/

/** Splits a command line on blanks; single or double quotes keep blanks inside one argument. */
const splitCommand = (line: string): ReadonlyArray<string> => {
  const words: Array<string> = []
  for (const match of line.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)) words.push(match[1] ?? match[2] ?? match[3] ?? "")
  return words
}

/** Parses `NAME=COMMAND ARGS...` or `NAME=http(s)://...`; Left is one sentence for the person who typed it. */
export const parse = (text: string): Either.Either<McpServerSpec, string> => {
  const eq = text.indexOf("=")
  const name = eq < 0 ? "" : text.slice(0, eq)
  const rest = eq < 0 ? "" : text.slice(eq + 1).trim()
  if (!NAME.test(name) || rest === "") {
    return Either.left(
      `--mcp expects NAME=COMMAND (a stdio MCP server) or NAME=https://... (streamable HTTP), with NAME of letters, digits, _ or -; got "${text}"`
    )
  }
  if (/^https?:\/\//.test(rest)) {
    return URL.canParse(rest)
      ? Either.right({ _tag: "Http", name, url: rest })
      : Either.left(`--mcp ${name}: "${rest}" is not a valid URL`)
  }
  const [command, ...args] = splitCommand(rest)
  return command === undefined
    ? Either.left(`--mcp ${name}: no command given`)
    : Either.right({ _tag: "Stdio", name, command, args })
}
