/**
 * Schema decoding failures as sentences a person can act on: "`count` must be an integer (got 1.5)",
 * "`name` is missing", rather than Effect Schema's tree. Used for tool arguments (INVALID_ARGUMENT).
 */
import { ParseResult } from "effect"

/** `count`, `tags[0]`, `a.b`: the path as a person writes it. */
const pathOf = (path: ReadonlyArray<PropertyKey>): string =>
  path.length === 0
    ? "the arguments"
    : `\`${
      path.map((key, i) => typeof key === "number" ? `[${key}]` : i === 0 ? String(key) : `.${String(key)}`).join("")
    }\``

/** "number" → "a number"; a struct or array type → "an object" / "an array"; literals and phrases as they are. */
const expectation = (type: string): string => {
  if (type.startsWith("{")) return "an object"
  if (type.startsWith("ReadonlyArray<") || type.startsWith("readonly [")) return "an array"
  if (["string", "number", "boolean", "bigint", "symbol"].includes(type)) return `a ${type}`
  return type
}

/** One sentence per offending path, joined with "; ". */
export const describeParseError = (error: ParseResult.ParseError): string => {
  const byPath = new Map<string, { expected: Array<string>; actual?: string; other: Array<string> }>()
  for (const issue of ParseResult.ArrayFormatter.formatErrorSync(error)) {
    const key = pathOf(issue.path)
    const entry = byPath.get(key) ?? { expected: [], other: [] }
    byPath.set(key, entry)
    const match = /^Expected (.+), actual (.+)$/s.exec(issue.message)
    if (match !== null) {
      entry.expected.push(expectation(match[1] ?? ""))
      entry.actual = match[2] ?? ""
    } else if (issue._tag === "Missing") entry.other.push("is missing")
    else if (issue._tag === "Unexpected") entry.other.push("is not expected")
    else entry.other.push(issue.message)
  }
  return [...byPath].map(([path, { actual, expected, other }]) => {
    // an optional field's union ends in "undefined": not worth saying
    const alternatives = expected.length > 1 ? expected.filter((e) => e !== "undefined") : expected
    const parts = [
      ...(alternatives.length > 0 ? [`must be ${[...new Set(alternatives)].join(" or ")} (got ${actual ?? "?"})`] : []),
      ...other
    ]
    return `${path} ${parts.join(", and ")}`
  }).join("; ")
}
