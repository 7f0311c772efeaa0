/**
 * A form from a `human.input.request`'s `response_schema` (a JSON Schema): one field per property of an
 * object schema (or one field for a scalar schema), and the value the filled-in form stands for. The page
 * does not validate beyond types: the runtime checks the answer against the schema and its refusal (a nack
 * naming the failing path) is shown under the form, so the rules are the runtime's, not a second copy.
 */

export type FieldKind = "text" | "number" | "integer" | "boolean" | "choice" | "json"

export interface Field {
  /** The property name; "" for a scalar schema's single field. */
  readonly name: string
  readonly label: string
  readonly kind: FieldKind
  readonly required: boolean
  readonly options: ReadonlyArray<string>
  readonly description: string | undefined
  readonly multiline: boolean
  /** The field's starting text (from the request's `default`, else the schema's). */
  readonly initial: string
}

export interface FormSpec {
  /** True when the answer is an object of `fields`; false for one scalar field. */
  readonly object: boolean
  readonly fields: ReadonlyArray<Field>
}

type Json = { readonly [key: string]: unknown }

const isRecord = (u: unknown): u is Json => typeof u === "object" && u !== null && !Array.isArray(u)

const text = (u: unknown): string | undefined => (typeof u === "string" ? u : undefined)

const kindOf = (schema: Json): FieldKind => {
  if (Array.isArray(schema["enum"]) && schema["enum"].every((v) => typeof v === "string")) return "choice"
  switch (schema["type"]) {
    case "string":
      return "text"
    case "number":
      return "number"
    case "integer":
      return "integer"
    case "boolean":
      return "boolean"
    default:
      return "json"
  }
}

const initialText = (kind: FieldKind, value: unknown): string => {
  if (value === undefined) return kind === "boolean" ? "false" : ""
  if (kind === "json") return JSON.stringify(value, null, 2)
  return typeof value === "string" ? value : JSON.stringify(value)
}

const fieldOf = (name: string, schema: unknown, required: boolean, fallback: unknown): Field => {
  const s = isRecord(schema) ? schema : {}
  const kind = kindOf(s)
  const options = Array.isArray(s["enum"]) ? s["enum"].filter((v): v is string => typeof v === "string") : []
  const maxLength = typeof s["maxLength"] === "number" ? s["maxLength"] : undefined
  return {
    name,
    label: text(s["title"]) ?? (name === "" ? "Answer" : name),
    kind,
    required,
    options,
    description: text(s["description"]),
    multiline: kind === "json" || (kind === "text" && maxLength !== undefined && maxLength > 200),
    initial: initialText(kind, fallback !== undefined ? fallback : s["default"])
  }
}

/** The form for a response schema, prefilled from the request's `default` when there is one. */
export const formOf = (schema: unknown, fallback?: unknown): FormSpec => {
  const s = isRecord(schema) ? schema : {}
  const properties = s["properties"]
  if ((s["type"] === "object" || s["type"] === undefined) && isRecord(properties)) {
    const required = Array.isArray(s["required"]) ? s["required"].filter((r) => typeof r === "string") : []
    const defaults = isRecord(fallback) ? fallback : {}
    return {
      object: true,
      fields: Object.entries(properties).map(([name, property]) =>
        fieldOf(name, property, required.includes(name), defaults[name])
      )
    }
  }
  return { object: false, fields: [fieldOf("", s, true, fallback)] }
}

/** A field's text turned into its JSON value, or an error sentence for the person filling it in. */
export const valueOf = (field: Field, raw: string): { ok: true; value: unknown } | { ok: false; error: string } => {
  switch (field.kind) {
    case "text":
    case "choice":
      return { ok: true, value: raw }
    case "boolean":
      return { ok: true, value: raw === "true" }
    case "number":
    case "integer": {
      const n = Number(raw)
      if (raw.trim() === "" || !Number.isFinite(n)) return { ok: false, error: `${field.label}: enter a number` }
      if (field.kind === "integer" && !Number.isInteger(n)) {
        return { ok: false, error: `${field.label}: enter a whole number` }
      }
      return { ok: true, value: n }
    }
    case "json":
      try {
        return { ok: true, value: JSON.parse(raw) }
      } catch {
        return { ok: false, error: `${field.label}: enter valid JSON` }
      }
  }
}

/**
 * The answer the form stands for: an object of its fields (optional fields left empty are left out) or the
 * single value; or the first error.
 */
export const answerOf = (
  spec: FormSpec,
  values: { readonly [name: string]: string }
): { ok: true; value: unknown } | { ok: false; error: string } => {
  if (!spec.object) {
    const field = spec.fields[0]
    if (field === undefined) return { ok: false, error: "nothing to answer" }
    return valueOf(field, values[field.name] ?? field.initial)
  }
  const answer: Record<string, unknown> = {}
  for (const field of spec.fields) {
    const raw = values[field.name] ?? field.initial
    if (raw === "" && field.kind !== "text") {
      if (field.required) return { ok: false, error: `${field.label} is required` }
      continue
    }
    if (raw === "" && !field.required) continue
    const v = valueOf(field, raw)
    if (!v.ok) return v
    answer[field.name] = v.value
  }
  return { ok: true, value: answer }
}
