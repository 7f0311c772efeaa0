/** Human-in-the-loop messages (RFC §12): input and choice requests, responses, cancellation. */
import { Schema } from "effect"
import { ErrorCode } from "../Errors.js"
import { Timestamp } from "../Timestamp.js"
import { JsonObject, JsonValue, NonEmptyString } from "./Common.js"

/** A request must carry `expires_at` (§12.4). `response_schema` is a JSON Schema object. */
export const HumanInputRequest = Schema.Struct({
  prompt: Schema.String,
  response_schema: JsonObject,
  default: Schema.optional(JsonValue),
  expires_at: Timestamp,
  destination: Schema.optional(Schema.Union(Schema.String, Schema.Array(Schema.String)))
})

export const HumanInputResponse = Schema.Struct({
  value: JsonValue,
  responded_by: Schema.String,
  responded_at: Timestamp
})

export const ChoiceOption = Schema.Struct({
  id: NonEmptyString,
  label: Schema.String,
  description: Schema.optional(Schema.String)
})

/** Option ids are unique, and `default`, when set, names one of them. */
export const HumanChoiceRequest = Schema.Struct({
  prompt: Schema.String,
  options: Schema.NonEmptyArray(ChoiceOption),
  expires_at: Timestamp,
  default: Schema.optional(Schema.String)
}).pipe(
  Schema.filter((r) => {
    const ids = r.options.map((o) => o.id)
    if (new Set(ids).size !== ids.length) return { path: ["options"], message: "option ids must be unique" }
    if (r.default !== undefined && !ids.includes(r.default)) {
      return { path: ["default"], message: `default "${r.default}" is not one of the option ids` }
    }
    return true
  })
)

export const HumanChoiceResponse = Schema.Struct({
  choice_id: NonEmptyString,
  responded_by: Schema.String,
  responded_at: Timestamp
})

export const HumanInputCancelled = Schema.Struct({ code: ErrorCode, message: Schema.optional(Schema.String) })

export const payloads = {
  "human.input.request": HumanInputRequest,
  "human.input.response": HumanInputResponse,
  "human.choice.request": HumanChoiceRequest,
  "human.choice.response": HumanChoiceResponse,
  "human.input.cancelled": HumanInputCancelled
}
