/**
 * `arcp validate`: checks a transcript of envelopes (one JSON per line, or one
 * JSON document holding an envelope or an array of them) and reports each one.
 */
import type { PlatformError } from "@effect/platform/Error"
import { Either } from "effect"
import { isOptional } from "../protocol/Envelope.js"
import { classifyUnknownType, validateFieldName } from "../protocol/Extensions.js"
import { decode, type DecodeError } from "../protocol/Message.js"

/** The verdict on one envelope: its line (1-based; 0 when the input itself could not be read) and either its type or the error. */
export type Verdict =
  | { readonly _tag: "Ok"; readonly line: number; readonly type: string }
  | {
    readonly _tag: "Invalid"
    readonly line: number
    readonly code: string
    readonly path: string
    readonly reason: string
  }

/** The canonical code a receiver answers a bad frame with (§18.2, §21.3). */
const codeOf = (error: DecodeError, optional: boolean): string => {
  if (error.reason !== "UnknownType" || error.type === undefined) return "INVALID_ARGUMENT"
  const decision = classifyUnknownType(error.type, { advertised: [], optional })
  return decision._tag === "Nack" ? decision.code : "UNIMPLEMENTED"
}

const invalid = (line: number, code: string, path: string, reason: string): Verdict => ({
  _tag: "Invalid",
  line,
  code,
  path,
  reason
})

const judge = (value: unknown, line: number, allowExperimental: boolean): Verdict =>
  Either.match(decode(value), {
    onLeft: (error) => {
      const [first, ...rest] = error.issues
      const more = rest.length > 0 ? ` (and ${rest.length} more)` : ""
      const optional = typeof value === "object" && value !== null && isOptional(value)
      return invalid(line, codeOf(error, optional), first?.path ?? "", `${first?.message ?? "invalid"}${more}`)
    },
    onRight: (message) => {
      for (const key of Object.keys(message.extensions ?? {})) {
        const r = validateFieldName(key, { allowExperimental })
        if (Either.isLeft(r)) return invalid(line, "INVALID_ARGUMENT", `extensions.${key}`, r.left)
      }
      return { _tag: "Ok", line, type: message.type }
    }
  })

/** Judges every envelope of `text`. */
export const validateText = (
  text: string,
  options: { readonly allowExperimental?: boolean } = {}
): ReadonlyArray<Verdict> => {
  const allowExperimental = options.allowExperimental === true
  try {
    const document: unknown = JSON.parse(text)
    return Array.isArray(document)
      ? document.map((value, i) => judge(value, i + 1, allowExperimental))
      : [judge(document, 1, allowExperimental)]
  } catch {
    // not one JSON document: read it as JSON lines
  }
  const verdicts: Array<Verdict> = []
  text.split(/\r?\n/).forEach((raw, i) => {
    if (raw.trim() === "") return
    let value: unknown
    try {
      value = JSON.parse(raw)
    } catch (e) {
      verdicts.push(
        invalid(i + 1, "INVALID_ARGUMENT", "(root)", `malformed JSON: ${e instanceof Error ? e.message : String(e)}`)
      )
      return
    }
    verdicts.push(judge(value, i + 1, allowExperimental))
  })
  return verdicts
}

/** The line `arcp validate` prints for a verdict. */
export const formatVerdict = (v: Verdict): string =>
  v._tag === "Ok" ? `ok ${v.type}` : `error ${v.line} ${v.code} ${v.path === "" ? "(root)" : v.path}: ${v.reason}`

/**
 * The one verdict when the transcript cannot be read at all (missing, unreadable, a directory):
 * line 0, the file as the path, the canonical code closest to the cause.
 */
export const unreadable = (file: string, error: PlatformError): Verdict => {
  if (error._tag === "SystemError" && error.reason === "NotFound") return invalid(0, "NOT_FOUND", file, "no such file")
  if (error._tag === "SystemError" && error.reason === "PermissionDenied") {
    return invalid(0, "PERMISSION_DENIED", file, "permission denied")
  }
  return invalid(0, "INVALID_ARGUMENT", file, `cannot read: ${error.description ?? error.message}`)
}
