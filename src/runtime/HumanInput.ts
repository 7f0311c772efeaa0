/**
 * Human-in-the-loop requests (RFC §12): pending `human.input.request`s, answers
 * validated against their JSON Schema (Ajv), first valid answer wins, and
 * expiry with the default or DEADLINE_EXCEEDED.
 */
import { Ajv, type ValidateFunction } from "ajv"
import { Clock, Context, Deferred, Duration, Effect, Layer } from "effect"
import { ArcpError } from "../protocol/Errors.js"
import type { MessageId } from "../protocol/Ids.js"
import type { Message, MessageType, PayloadOf } from "../protocol/Message.js"
import { fromMillis, now } from "../protocol/Timestamp.js"

/** Emits one envelope on the requesting job's behalf and returns its id. */
export type Emit = <T extends MessageType>(
  type: T,
  payload: PayloadOf<T>,
  header?: { readonly correlation_id?: MessageId; readonly priority?: "critical" }
) => Effect.Effect<MessageId>

export interface Answer {
  readonly value: unknown
  readonly responded_by: string
}

interface Pending {
  readonly principal: string
  readonly validate: ValidateFunction
  readonly answer: Deferred.Deferred<Answer, ArcpError>
}

export class HumanInput extends Context.Tag("arcp/HumanInput")<HumanInput, {
  /**
   * Sends a `human.input.request` through `emit` and waits for the first valid
   * answer. On expiry: the default when one is set (a synthesized response with
   * `responded_by: "default"`), else `human.input.cancelled` DEADLINE_EXCEEDED
   * and a DEADLINE_EXCEEDED failure. Interrupting the wait cancels the request.
   */
  readonly ask: (request: {
    readonly emit: Emit
    readonly principal: string
    readonly prompt: string
    readonly responseSchema: Record<string, unknown>
    readonly default?: unknown
    readonly expiresInSeconds: number
  }) => Effect.Effect<Answer, ArcpError>
  /** Handles a `human.input.response`: INVALID_ARGUMENT if it fails the schema, NOT_FOUND if no such request is pending. */
  readonly respond: (message: Message<"human.input.response">, principal: string) => Effect.Effect<void, ArcpError>
}>() {}

/** How many settled request ids are remembered (oldest forgotten first), so late answers are ignored quietly. */
export const REMEMBERED_SETTLED = 4096

/** The service; `remembered` bounds the settled request ids kept (a late answer past that is NOT_FOUND). */
export const makeWith = (options: { readonly remembered?: number } = {}) =>
  Effect.sync(() => {
    const remembered = options.remembered ?? REMEMBERED_SETTLED
    const ajv = new Ajv({ allErrors: true, strict: false })
    const pending = new Map<string, Pending>()
    // settled request id -> the principal it was asked of, oldest first (bounded: it would grow with every request)
    const settled = new Map<string, string>()

    const compile = (schema: Record<string, unknown>) =>
      Effect.try({
        try: () => ajv.compile(schema),
        catch: (e) =>
          ArcpError.of(
            "INVALID_ARGUMENT",
            `response_schema is not a valid JSON Schema: ${e instanceof Error ? e.message : String(e)}`
          )
      })

    const settle = (id: string) =>
      Effect.sync(() => {
        const request = pending.get(id)
        pending.delete(id)
        if (request === undefined) return
        settled.set(id, request.principal)
        for (const oldest of settled.keys()) {
          if (settled.size <= remembered) break
          settled.delete(oldest)
        }
      })

    return HumanInput.of({
      ask: (request) =>
        Effect.gen(function*() {
          const validate = yield* compile(request.responseSchema)
          const answer = yield* Deferred.make<Answer, ArcpError>()
          const expiresAtMs = (yield* Clock.currentTimeMillis) + request.expiresInSeconds * 1000
          const id = yield* request.emit("human.input.request", {
            prompt: request.prompt,
            response_schema: request.responseSchema,
            ...(request.default !== undefined ? { default: request.default } : {}),
            expires_at: fromMillis(expiresAtMs)
          }, { priority: "critical" })
          yield* Effect.sync(() => pending.set(id, { principal: request.principal, validate, answer }))

          const expire = Effect.gen(function*() {
            yield* settle(id)
            if (request.default !== undefined) {
              yield* request.emit("human.input.response", {
                value: request.default,
                responded_by: "default",
                responded_at: yield* now
              }, { correlation_id: id })
              return { value: request.default, responded_by: "default" }
            }
            yield* request.emit("human.input.cancelled", {
              code: "DEADLINE_EXCEEDED",
              message: "no answer before expires_at"
            }, { correlation_id: id })
            return yield* ArcpError.of("DEADLINE_EXCEEDED", "the human input request expired")
          })

          return yield* Deferred.await(answer).pipe(
            Effect.raceFirst(
              Effect.sleep(Duration.millis(request.expiresInSeconds * 1000)).pipe(Effect.zipRight(expire))
            ),
            Effect.onInterrupt(() =>
              Effect.suspend(() =>
                pending.has(id)
                  // clear the stale prompt on every channel (§12.3)
                  ? settle(id).pipe(
                    Effect.zipRight(
                      request.emit("human.input.cancelled", { code: "CANCELLED", message: "the job no longer waits" }, {
                        correlation_id: id
                      })
                    )
                  )
                  : Effect.void
              )
            )
          )
        }),
      respond: (message, principal) =>
        Effect.gen(function*() {
          const id = message.correlation_id
          if (id === undefined) {
            return yield* ArcpError.of("INVALID_ARGUMENT", "human.input.response needs correlation_id = the request id")
          }
          const request = pending.get(id)
          if (request === undefined || request.principal !== principal) {
            // first answer wins (§12.3): the asked principal's later answers to a settled request are ignored;
            // anyone else learns nothing about another principal's requests
            if (settled.get(id) === principal) {
              return yield* Effect.logDebug(`ignored a late answer to ${id}`)
            }
            return yield* ArcpError.of("NOT_FOUND", `no pending human input request ${id}`)
          }
          if (!request.validate(message.payload.value)) {
            return yield* ArcpError.of(
              "INVALID_ARGUMENT",
              // bounded: allErrors reports one error per failing element, however many there are
              `value does not match response_schema: ${ajv.errorsText(request.validate.errors).slice(0, 1000)}`,
              {
                details: { errors: (request.validate.errors ?? []).slice(0, 16) }
              }
            )
          }
          yield* settle(id)
          yield* Deferred.succeed(request.answer, {
            value: message.payload.value,
            responded_by: message.payload.responded_by
          })
        })
    })
  })

export const make = makeWith()

export const layer: Layer.Layer<HumanInput> = Layer.effect(HumanInput, make)
