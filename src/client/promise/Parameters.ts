/**
 * What a Promise tool may declare its arguments with: an Effect Schema, any Standard Schema v1 validator
 * (zod, valibot, arktype, Effect Schema through `Schema.standardSchemaV1`), or a JSON Schema object
 * (checked with Ajv). Each becomes one check: the typed arguments, or a sentence naming what is wrong.
 */
import { Ajv } from "ajv"
import { Either, Schema } from "effect"
import { describeParseError } from "../../runtime/internal/Issues.js"

/** The Standard Schema v1 interface (standardschema.dev), declared here rather than depended on. */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  readonly "~standard": {
    readonly version: 1
    readonly vendor: string
    readonly validate: (
      value: unknown
    ) => StandardSchemaV1.Result<Output> | Promise<StandardSchemaV1.Result<Output>>
    readonly types?: { readonly input: Input; readonly output: Output } | undefined
  }
}

export declare namespace StandardSchemaV1 {
  export type Result<Output> =
    | { readonly value: Output; readonly issues?: undefined }
    | { readonly issues: ReadonlyArray<Issue> }
  export interface Issue {
    readonly message: string
    readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined
  }
}

/** A JSON Schema, e.g. `{ type: "object", properties: { n: { type: "integer" } }, required: ["n"] }`. */
export interface JsonSchema {
  readonly [keyword: string]: unknown
}

/** What `tool({ parameters })` accepts for arguments of type `A`: an Effect Schema, or any Standard Schema. */
export type Parameters<A, I = A> = Schema.Schema<A, I> | StandardSchemaV1<unknown, A>

const isStandard = <A, I>(p: Parameters<A, I>): p is StandardSchemaV1<unknown, A> =>
  !Schema.isSchema(p) && "~standard" in p

/** `count`, `items[0]`: a Standard Schema issue's path as a person writes it. */
const pathOf = (path: StandardSchemaV1.Issue["path"]): string => {
  const keys = (path ?? []).map((segment) => typeof segment === "object" ? segment.key : segment)
  if (keys.length === 0) return ""
  const text = keys.map((k, i) => typeof k === "number" ? `[${k}]` : i === 0 ? String(k) : `.${String(k)}`).join("")
  return `\`${text}\`: `
}

const ajv = new Ajv({ allErrors: true, strict: false })

/**
 * A JSON Schema as a Standard Schema (validated with Ajv), for `tool({ parameters: jsonSchema({...}) })`.
 * `A` is what the handler receives: give it when the schema pins it down (`jsonSchema<{ n: number }>(...)`).
 */
export const jsonSchema = <A = Record<string, unknown>>(schema: JsonSchema): StandardSchemaV1<unknown, A> => {
  const validate = ajv.compile<A>(schema)
  return {
    "~standard": {
      version: 1,
      vendor: "arcp-json-schema",
      validate: (value) =>
        validate(value)
          ? { value }
          : {
            issues: (validate.errors ?? []).map((e) => ({
              message: e.message ?? "is invalid",
              path: e.instancePath.split("/").slice(1).map((k) => /^\d+$/.test(k) ? Number(k) : k)
            }))
          }
    }
  }
}

/** The check for `parameters`: the typed arguments, or a sentence saying what is wrong with them. */
export const validator = <A, I>(parameters: Parameters<A, I>): (args: unknown) => Either.Either<A, string> => {
  if (isStandard(parameters)) {
    const standard = parameters["~standard"]
    return (args) => {
      const result = standard.validate(args)
      if (result instanceof Promise) {
        return Either.left(`the ${standard.vendor} schema validates asynchronously, which tools do not support`)
      }
      return result.issues === undefined
        ? Either.right(result.value)
        : Either.left(result.issues.map((issue) => `${pathOf(issue.path)}${issue.message}`).join("; "))
    }
  }
  const decode = Schema.decodeUnknownEither(parameters, { errors: "all" })
  return (args) => Either.mapLeft(decode(args), describeParseError)
}
