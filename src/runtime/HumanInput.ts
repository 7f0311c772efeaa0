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
import { RuntimeConfig } from "./RuntimeConfig.js"

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
  readonly sessionId: string | undefined
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
    /** The session the request counts against (--max-pending-human); RESOURCE_EXHAUSTED past the limit. */
    readonly sessionId?: string | undefined
    readonly prompt: string
    readonly responseSchema: Record<string, unknown>
    readonly default?: unknown
    readonly expiresInSeconds: number
  }) => Effect.Effect<Answer, ArcpError>
  /** Handles a `human.input.response`: INVALID_ARGUMENT if it fails the schema, NOT_FOUND if no such request is pending. */
  readonly respond: (message: Message<"human.input.response">, principal: string) => Effect.Effect<void, ArcpError>
  /** RESOURCE_EXHAUSTED when `sessionId` already has the most pending requests allowed (checked again by `ask`). */
  readonly admit: (sessionId: string) => Effect.Effect<void, ArcpError>
}>() {}

export const make = Effect.gen(function*() {
  const { maxPendingHuman } = yield* RuntimeConfig
  const ajv = new Ajv({ allErrors: true, strict: false })
  const pending = new Map<string, Pending>()
  const resolved = new Set<string>()

  const compile = (schema: Record<string, unknown>) =>
    Effect.try({
      try: () => ajv.compile(schema),
      catch: (e) =>
        ArcpError.of(
          "INVALID_ARGUMENT",
          `response_schema is not a valid JSON Schema: ${e instanceof Error ? e.message : String(e)}`
        )
    })

  // pending requests per session, for --max-pending-human
  const perSession = new Map<string, number>()
  const admit = (sessionId: string | undefined) =>
    Effect.suspend(() => {
      const count = sessionId === undefined ? 0 : perSession.get(sessionId) ?? 0
      if (count < maxPendingHuman) return Effect.void
      return Effect.fail(
        ArcpError.of(
          "RESOURCE_EXHAUSTED",
          `this session already has ${count} pending human input requests, the limit (--max-pending-human)`,
          { details: { pending: count, max_pending_human: maxPendingHuman } }
        )
      )
    })

  const settle = (id: string) =>
    Effect.sync(() => {
      const request = pending.get(id)
      if (request !== undefined && pending.delete(id) && request.sessionId !== undefined) {
        const left = (perSession.get(request.sessionId) ?? 1) - 1
        if (left <= 0) perSession.delete(request.sessionId)
        else perSession.set(request.sessionId, left)
      }
      resolved.add(id)
    })

  return HumanInput.of({
    ask: (request) =>
      Effect.gen(function*() {
        yield* admit(request.sessionId)
        const validate = yield* compile(request.responseSchema)
        const answer = yield* Deferred.make<Answer, ArcpError>()
        const expiresAtMs = (yield* Clock.currentTimeMillis) + request.expiresInSeconds * 1000
        const id = yield* request.emit("human.input.request", {
          prompt: request.prompt,
          response_schema: request.responseSchema,
          ...(request.default !== undefined ? { default: request.default } : {}),
          expires_at: fromMillis(expiresAtMs)
        }, { priority: "critical" })
        yield* Effect.sync(() => {
          pending.set(id, { principal: request.principal, sessionId: request.sessionId, validate, answer })
          if (request.sessionId !== undefined) {
            perSession.set(request.sessionId, (perSession.get(request.sessionId) ?? 0) + 1)
          }
        })

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
          // first answer wins (§12.3): later answers to a settled request are ignored
          if (resolved.has(id)) {
            return yield* Effect.logDebug(`ignored a late answer to ${id}`)
          }
          return yield* ArcpError.of("NOT_FOUND", `no pending human input request ${id}`)
        }
        if (!request.validate(message.payload.value)) {
          return yield* ArcpError.of(
            "INVALID_ARGUMENT",
            `value does not match response_schema: ${ajv.errorsText(request.validate.errors)}`,
            {
              details: { errors: request.validate.errors ?? [] }
            }
          )
        }
        yield* settle(id)
        yield* Deferred.succeed(request.answer, {
          value: message.payload.value,
          responded_by: message.payload.responded_by
        })
      }),
    admit
  })
})

export const layer: Layer.Layer<HumanInput, never, RuntimeConfig> = Layer.effect(HumanInput, make)
