/**
 * Values passed between workflow steps: anywhere in a step's arguments, an
 * object `{"$from": "inputs.<path>"}` or `{"$from": "steps.<id>.output[.<path>]"}`
 * stands for that value (a dotted path into JSON objects and arrays).
 */
import { Effect } from "effect"
import { ArcpError } from "../../protocol/Errors.js"

const referenceOf = (value: unknown): string | undefined => {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined
  const keys = Object.keys(value)
  const from: unknown = Reflect.get(value, "$from")
  return keys.length === 1 && typeof from === "string" ? from : undefined
}

/** Every `$from` in `value`, depth first. */
const referencesIn = (value: unknown, into: Array<string> = []): Array<string> => {
  const ref = referenceOf(value)
  if (ref !== undefined) into.push(ref)
  else if (Array.isArray(value)) { for (const item of value) referencesIn(item, into) }
  else if (typeof value === "object" && value !== null) {
    for (const item of Object.values(value)) referencesIn(item, into)
  }
  return into
}

/** Refuses references to steps not run before `stepId`, or of an unknown form, before the workflow is accepted. */
export const checkReferences = (
  args: Record<string, unknown>,
  stepId: string,
  earlier: ReadonlySet<string>
): Effect.Effect<void, ArcpError> =>
  Effect.forEach(referencesIn(args), (ref) => {
    const [root, id, output] = ref.split(".")
    if (root === "inputs") return Effect.void
    if (root === "steps" && id !== undefined && earlier.has(id) && output === "output") return Effect.void
    return Effect.fail(
      ArcpError.of(
        "INVALID_ARGUMENT",
        `step "${stepId}": "$from": "${ref}" must be inputs.<path> or steps.<an earlier step>.output[.<path>]`,
        { details: { step: stepId, reference: ref } }
      )
    )
  }, { discard: true })

const walk = (value: unknown, path: ReadonlyArray<string>): unknown => {
  let at = value
  for (const key of path) {
    if (typeof at !== "object" || at === null) return undefined
    at = Reflect.get(at, Array.isArray(at) ? Number(key) : key)
  }
  return at
}

/** `args` with each reference replaced by its value; a path that leads nowhere is INVALID_ARGUMENT. */
export const resolveReferences = (
  args: Record<string, unknown>,
  scope: { readonly inputs: Record<string, unknown>; readonly outputs: Record<string, unknown> }
): Effect.Effect<Record<string, unknown>, ArcpError> =>
  Effect.suspend(() => {
    const missing: Array<string> = []
    const replace = (value: unknown): unknown => {
      const ref = referenceOf(value)
      if (ref !== undefined) {
        const [root, ...rest] = ref.split(".")
        const found = root === "inputs"
          ? walk(scope.inputs, rest)
          : walk(scope.outputs, [rest[0] ?? "", ...rest.slice(2)])
        if (found === undefined) missing.push(ref)
        return found ?? null
      }
      if (Array.isArray(value)) return value.map(replace)
      if (typeof value === "object" && value !== null) {
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, replace(v)]))
      }
      return value
    }
    const resolved = Object.fromEntries(Object.entries(args).map(([k, v]) => [k, replace(v)]))
    return missing.length === 0 ? Effect.succeed(resolved) : Effect.fail(
      ArcpError.of("INVALID_ARGUMENT", `no value at ${missing.map((m) => `"${m}"`).join(", ")}`, {
        details: { references: missing }
      })
    )
  })
