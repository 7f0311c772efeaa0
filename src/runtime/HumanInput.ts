/**
 * Human-in-the-loop requests (RFC §12): pending `human.input.request`s and
 * `human.choice.request`s, answers validated against their JSON Schema (Ajv)
 * or option ids, first valid answer wins, and expiry with the default or
 * DEADLINE_EXCEEDED. A request seen on several channels (another session of
 * the principal answering, subscriptions observing the job) has its winning
 * answer announced on the job and `human.input.cancelled` sent to clear the
 * other channels' prompts (§12.3).
 */
import { Ajv } from "ajv"
import { Clock, Context, Deferred, Duration, Effect, Layer, Option } from "effect"
import { ArcpError } from "../protocol/Errors.js"
import type { MessageId } from "../protocol/Ids.js"
import type { Message, MessageType, PayloadOf } from "../protocol/Message.js"
import { fromMillis, now } from "../protocol/Timestamp.js"
import { HumanAudience } from "./events/HumanAudience.js"
import { RuntimeConfig } from "./RuntimeConfig.js"

/** Emits one envelope on the requesting job's behalf and returns its id. */
export type Emit = <T extends MessageType>(
  type: T,
  payload: PayloadOf<T>,
  header?: {
    readonly correlation_id?: MessageId
    readonly causation_id?: MessageId
    readonly priority?: "critical"
  }
) => Effect.Effect<MessageId>

export interface Answer {
  readonly value: unknown
  readonly responded_by: string
}

interface Pending {
  readonly principal: string
  readonly sessionId: string | undefined
  readonly kind: "input" | "choice"
  readonly emit: Emit
  /** Why an answer is refused (INVALID_ARGUMENT), or undefined when it is acceptable. */
  readonly refuse: (value: unknown) => ArcpError | undefined
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
  /** As `ask`, with a `human.choice.request` (§12.2): the answer's value is the chosen option id. */
  readonly choose: (request: {
    readonly emit: Emit
    readonly principal: string
    /** The session the request counts against (--max-pending-human); RESOURCE_EXHAUSTED past the limit. */
    readonly sessionId?: string | undefined
    readonly prompt: string
    readonly options: ReadonlyArray<{ readonly id: string; readonly label?: string; readonly description?: string }>
    readonly default?: string | undefined
    readonly expiresInSeconds: number
  }) => Effect.Effect<Answer, ArcpError>
  /**
   * Handles a `human.input.response` from any session of the asked principal: INVALID_ARGUMENT if it
   * fails the schema, NOT_FOUND if no such request is pending; a later answer to a settled one is ignored.
   */
  readonly respond: (message: Message<"human.input.response">, principal: string) => Effect.Effect<void, ArcpError>
  /** Handles a `human.choice.response`: INVALID_ARGUMENT for an unknown option, NOT_FOUND if no such request is pending. */
  readonly respondChoice: (
    message: Message<"human.choice.response">,
    principal: string
  ) => Effect.Effect<void, ArcpError>
  /** RESOURCE_EXHAUSTED when `sessionId` already has the most pending requests allowed (checked again by `ask`). */
  readonly admit: (sessionId: string) => Effect.Effect<void, ArcpError>
}>() {}

/** How many settled request ids are remembered (oldest forgotten first), so late answers are ignored quietly. */
export const REMEMBERED_SETTLED = 4096

/** The service; `remembered` bounds the settled request ids kept (a late answer past that is NOT_FOUND). */
export const makeWith = Effect.fnUntraced(function*(options: { readonly remembered?: number } = {}) {
  const { maxPendingHuman } = yield* RuntimeConfig
  // optional: without it (a HumanInput on its own) only an answer from another session counts as fanned out
  const audience = yield* Effect.serviceOption(HumanAudience)
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
      if (request === undefined) return
      settled.set(id, request.principal)
      for (const oldest of settled.keys()) {
        if (settled.size <= remembered) break
        settled.delete(oldest)
      }
    })

  /**
   * Sends a request (`send`, given its expires_at) and waits for the first valid
   * answer; on expiry the default (`synthesize`) or DEADLINE_EXCEEDED; when the
   * waiter is interrupted the request is withdrawn.
   */
  const pose = (request: {
    readonly emit: Emit
    readonly principal: string
    readonly sessionId: string | undefined
    readonly kind: Pending["kind"]
    readonly refuse: Pending["refuse"]
    readonly send: (expiresAt: string) => Effect.Effect<MessageId>
    readonly synthesize: ((id: MessageId) => Effect.Effect<Answer>) | undefined
    readonly expiresInSeconds: number
  }) =>
    Effect.gen(function*() {
      yield* admit(request.sessionId)
      const answer = yield* Deferred.make<Answer, ArcpError>()
      const expiresAtMs = (yield* Clock.currentTimeMillis) + request.expiresInSeconds * 1000
      const id = yield* request.send(fromMillis(expiresAtMs))
      yield* Effect.sync(() => {
        pending.set(id, {
          principal: request.principal,
          sessionId: request.sessionId,
          kind: request.kind,
          emit: request.emit,
          refuse: request.refuse,
          answer
        })
        if (request.sessionId !== undefined) {
          perSession.set(request.sessionId, (perSession.get(request.sessionId) ?? 0) + 1)
        }
      })

      const expire = Effect.gen(function*() {
        yield* settle(id)
        if (request.synthesize !== undefined) return yield* request.synthesize(id)
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
    })

  /** The pending request of `kind` a response answers, or why none: NOT_FOUND, or nothing for a late answer. */
  const answered = Effect.fnUntraced(function*(id: MessageId | undefined, principal: string, kind: Pending["kind"]) {
    if (id === undefined) {
      return yield* ArcpError.of("INVALID_ARGUMENT", "a human response needs correlation_id = the request id")
    }
    const request = pending.get(id)
    if (request === undefined || request.principal !== principal || request.kind !== kind) {
      // first answer wins (§12.3): the asked principal's later answers to a settled request are ignored;
      // anyone else learns nothing about another principal's requests
      if (settled.get(id) === principal) {
        yield* Effect.logDebug(`ignored a late answer to ${id}`)
        return undefined
      }
      return yield* ArcpError.of("NOT_FOUND", `no pending human ${kind} request ${id}`)
    }
    return [id, request] as const
  })

  /**
   * §12.3: when the request reached more than its job's session — answered from another session, or
   * delivered to observers — the job records who answered (a response with `responded_by`, caused by
   * the answer) and then clears every other channel's prompt with `human.input.cancelled`.
   */
  const announce = Effect.fnUntraced(function*(
    id: MessageId,
    request: Pending,
    message: { readonly id: MessageId; readonly session_id?: string | undefined },
    answer: Answer & { readonly responded_at: string }
  ) {
    const elsewhere = message.session_id !== undefined && message.session_id !== request.sessionId
    const observed = Option.isSome(audience) && (yield* audience.value.fannedOut(id))
    if (!elsewhere && !observed) return
    const header = { correlation_id: id, causation_id: message.id }
    const { responded_at, responded_by, value } = answer
    if (request.kind === "input") {
      yield* request.emit("human.input.response", { value, responded_by, responded_at }, header)
    } else if (typeof value === "string") {
      yield* request.emit("human.choice.response", { choice_id: value, responded_by, responded_at }, header)
    }
    yield* request.emit("human.input.cancelled", {
      code: "CANCELLED",
      message: `answered by ${responded_by} on another channel`
    }, header)
  })

  const accept = Effect.fnUntraced(function*(
    message: {
      readonly id: MessageId
      readonly correlation_id?: MessageId | undefined
      readonly session_id?: string | undefined
    },
    principal: string,
    kind: Pending["kind"],
    answer: Answer & { readonly responded_at: string }
  ) {
    const found = yield* answered(message.correlation_id, principal, kind)
    if (found === undefined) return
    const refused = found[1].refuse(answer.value)
    if (refused !== undefined) return yield* refused
    yield* settle(found[0])
    yield* Deferred.succeed(found[1].answer, answer)
    yield* announce(found[0], found[1], message, answer)
  })

  return HumanInput.of({
    ask: (request) =>
      Effect.flatMap(compile(request.responseSchema), (validate) =>
        pose({
          emit: request.emit,
          principal: request.principal,
          sessionId: request.sessionId,
          kind: "input",
          refuse: (value) =>
            validate(value) ? undefined : ArcpError.of(
              "INVALID_ARGUMENT",
              // bounded: allErrors reports one error per failing element, however many there are
              `value does not match response_schema: ${ajv.errorsText(validate.errors).slice(0, 1000)}`,
              { details: { errors: (validate.errors ?? []).slice(0, 16) } }
            ),
          send: (expires_at) =>
            request.emit("human.input.request", {
              prompt: request.prompt,
              response_schema: request.responseSchema,
              ...(request.default !== undefined ? { default: request.default } : {}),
              expires_at
            }, { priority: "critical" }),
          synthesize: request.default === undefined ? undefined : (id) =>
            Effect.gen(function*() {
              yield* request.emit("human.input.response", {
                value: request.default,
                responded_by: "default",
                responded_at: yield* now
              }, { correlation_id: id })
              return { value: request.default, responded_by: "default" }
            }),
          expiresInSeconds: request.expiresInSeconds
        })),
    choose: (request) => {
      const ids = request.options.map((o) => o.id)
      const chosen = request.default
      const listed = request.options.map((o) => ({
        id: o.id,
        label: o.label ?? o.id,
        ...(o.description !== undefined ? { description: o.description } : {})
      }))
      const first = listed[0]
      if (first === undefined) return Effect.fail(ArcpError.of("INVALID_ARGUMENT", "a choice needs options"))
      return pose({
        emit: request.emit,
        principal: request.principal,
        sessionId: request.sessionId,
        kind: "choice",
        refuse: (value) =>
          typeof value === "string" && ids.includes(value)
            ? undefined
            : ArcpError.of("INVALID_ARGUMENT", `choice_id must be one of ${ids.join(", ")}`),
        send: (expires_at) =>
          request.emit("human.choice.request", {
            prompt: request.prompt,
            options: [first, ...listed.slice(1)],
            expires_at,
            ...(chosen !== undefined ? { default: chosen } : {})
          }, { priority: "critical" }),
        synthesize: chosen === undefined ? undefined : (id) =>
          Effect.gen(function*() {
            yield* request.emit("human.choice.response", {
              choice_id: chosen,
              responded_by: "default",
              responded_at: yield* now
            }, { correlation_id: id })
            return { value: chosen, responded_by: "default" }
          }),
        expiresInSeconds: request.expiresInSeconds
      })
    },
    respond: (message, principal) =>
      accept(message, principal, "input", {
        value: message.payload.value,
        responded_by: message.payload.responded_by,
        responded_at: message.payload.responded_at
      }),
    respondChoice: (message, principal) =>
      accept(message, principal, "choice", {
        value: message.payload.choice_id,
        responded_by: message.payload.responded_by,
        responded_at: message.payload.responded_at
      }),
    admit
  })
})

export const make = makeWith()

/** The service; with a `HumanAudience` beside it, requests delivered to subscriptions count as fanned out (§12.3). */
export const layer: Layer.Layer<HumanInput, never, RuntimeConfig> = Layer.effect(HumanInput, make)
