/**
 * How a client session answers what the runtime asks: human input and choice
 * requests (RFC §12) and permission requests and leases (§15). Built by
 * `Client.connect` over its wire functions, generic in the client's own error.
 */
import { Effect } from "effect"
import { type HeaderOptions, make as makeEnvelope } from "../../protocol/Envelope.js"
import { ArcpError } from "../../protocol/Errors.js"
import { LeaseId, type MessageId } from "../../protocol/Ids.js"
import { type Decoded, isCore, type MessageType, type PayloadOf } from "../../protocol/Message.js"
import { now } from "../../protocol/Timestamp.js"

export interface Answers<E> {
  /**
   * Answers a `human.input.request` (§12.1). Completes once the runtime has taken the answer
   * (its ack, or the pong of a ping sent right behind it when the runtime sends no ack);
   * fails with the nack's error: INVALID_ARGUMENT when the value fails its schema, NOT_FOUND
   * when the request is no longer pending.
   */
  readonly respond: (requestId: MessageId, value: unknown, respondedBy?: string) => Effect.Effect<void, ArcpError | E>
  /** Answers a `human.choice.request` (§12.2) with an option id; completes and fails as `respond`. */
  readonly respondChoice: (
    requestId: MessageId,
    choiceId: string,
    respondedBy?: string
  ) => Effect.Effect<void, ArcpError | E>
  /**
   * Grants a `permission.request` (§15.4), by default exactly what it asked for; `resource` may
   * widen it to a pattern such as `order:*`. Resolves with the `lease.granted` payload.
   */
  readonly grant: (
    request: Decoded,
    options?: { readonly resource?: string; readonly expires_at?: string; readonly granted_by?: string }
  ) => Effect.Effect<PayloadOf<"lease.granted">, ArcpError | E>
  /** Denies a `permission.request`: the tool's ask fails PERMISSION_DENIED with `reason`. */
  readonly deny: (request: Decoded, reason: string) => Effect.Effect<void, ArcpError | E>
  /** Asks to extend a lease (`lease.refresh`); resolves with the `lease.extended` payload (§15.5). */
  readonly refreshLease: (leaseId: string, seconds: number) => Effect.Effect<PayloadOf<"lease.extended">, ArcpError | E>
}

/** What the answers need of the session. */
export interface Wire<E> {
  /** Sends a message and waits for its first correlated reply; a nack fails with its error. */
  readonly request: <T extends MessageType>(
    type: T,
    payload: PayloadOf<T>,
    header?: HeaderOptions
  ) => Effect.Effect<Decoded, ArcpError | E>
  /** Registers a waiter for the first reply correlated to `id` (before sending); the returned effect awaits it. */
  readonly expect: (id: MessageId) => Effect.Effect<Effect.Effect<Decoded, ArcpError | E>>
  /** Sends a prepared envelope (the session fills its id). */
  readonly send: (envelope: Decoded) => Effect.Effect<void, E>
  /** The failure for a reply of an unexpected type. */
  readonly unexpected: (expected: string, got: Decoded) => E
}

export const make = <E>(wire: Wire<E>): Answers<E> => {
  /**
   * Sends a message the RFC gives no reply to and completes once the runtime has taken it: a
   * correlated ack, or else the pong of a ping sent right behind it (the runtime handles a
   * connection's messages in order, so a refusal would have come first); a nack fails.
   */
  const taken = <T extends MessageType>(type: T, payload: PayloadOf<T>, header: HeaderOptions) =>
    Effect.gen(function*() {
      const envelope = yield* makeEnvelope(type, payload, header)
      const probe = yield* makeEnvelope("ping", {})
      const answer = yield* wire.expect(envelope.id)
      const pong = yield* wire.expect(probe.id)
      yield* wire.send(envelope)
      yield* wire.send(probe)
      yield* Effect.raceFirst(answer, pong)
    })

  /** The permission, resource and operation of a `permission.request`. */
  const scopeOf = (asked: Decoded) =>
    isCore(asked) && asked.type === "permission.request"
      ? Effect.succeed({
        permission: asked.payload.permission,
        resource: asked.payload.resource,
        operation: asked.payload.operation
      })
      : Effect.fail(ArcpError.of("INVALID_ARGUMENT", `expected a permission.request, got ${asked.type}`))

  return {
    respond: (requestId, value, respondedBy = "arcp-client") =>
      Effect.flatMap(
        now,
        (responded_at) =>
          taken("human.input.response", { value, responded_by: respondedBy, responded_at }, {
            correlation_id: requestId
          })
      ),
    respondChoice: (requestId, choiceId, respondedBy = "arcp-client") =>
      Effect.flatMap(
        now,
        (responded_at) =>
          taken("human.choice.response", { choice_id: choiceId, responded_by: respondedBy, responded_at }, {
            correlation_id: requestId
          })
      ),
    grant: Effect.fnUntraced(function*(asked, options = {}) {
      const scope = yield* scopeOf(asked)
      const reply = yield* wire.request("permission.grant", {
        ...scope,
        ...(options.resource !== undefined ? { resource: options.resource } : {}),
        ...(options.expires_at !== undefined ? { expires_at: options.expires_at } : {}),
        ...(options.granted_by !== undefined ? { granted_by: options.granted_by } : {})
      }, { correlation_id: asked.id })
      if (!isCore(reply) || reply.type !== "lease.granted") {
        return yield* Effect.fail(wire.unexpected("lease.granted", reply))
      }
      return reply.payload
    }),
    deny: (asked, reason) =>
      Effect.flatMap(
        scopeOf(asked),
        (scope) => taken("permission.deny", { ...scope, reason }, { correlation_id: asked.id })
      ),
    refreshLease: Effect.fnUntraced(function*(leaseId, seconds) {
      const reply = yield* wire.request("lease.refresh", {
        lease_id: LeaseId.make(leaseId),
        requested_seconds: seconds
      })
      if (!isCore(reply) || reply.type !== "lease.extended") {
        return yield* Effect.fail(wire.unexpected("lease.extended", reply))
      }
      return reply.payload
    })
  }
}
