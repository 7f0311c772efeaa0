/** Identity and authentication messages (RFC §8): the handshake, refresh, eviction, close. */
import { Schema } from "effect"
import { Capabilities } from "../Capabilities.js"
import { errorFields } from "../Errors.js"
import { ChallengeId, SessionId } from "../Ids.js"
import { Timestamp } from "../Timestamp.js"
import { JsonObject, JsonValue, NonEmptyString, NonNegativeInt, TrustLevel } from "./Common.js"

/** Credential schemes of §8.2. */
export const AuthScheme = Schema.Literal("bearer", "mtls", "oauth2", "signed_jwt", "none")
export type AuthScheme = typeof AuthScheme.Type

export const Auth = Schema.Struct({ scheme: AuthScheme, token: Schema.optional(Schema.String) })

/** The attested client identity block of `session.open` (§8.2). */
export const ClientIdentity = Schema.Struct({
  kind: NonEmptyString,
  version: Schema.String,
  fingerprint: Schema.optional(Schema.String),
  principal: Schema.optional(Schema.String)
})

/** The runtime identity of `session.accepted` (§8.3). */
export const RuntimeIdentity = Schema.Struct({
  kind: NonEmptyString,
  version: Schema.String,
  fingerprint: Schema.optional(Schema.String),
  trust_level: Schema.optional(TrustLevel)
})
export type RuntimeIdentity = typeof RuntimeIdentity.Type

export const SessionOpen = Schema.Struct({
  auth: Auth,
  client: ClientIdentity,
  capabilities: Capabilities
}).pipe(
  Schema.filter(
    (p) =>
      p.auth.scheme !== "mtls" || p.client.fingerprint !== undefined ||
      { path: ["client", "fingerprint"], message: "the mtls scheme requires client.fingerprint (§8.2)" }
  ),
  Schema.annotations({ identifier: "session.open" })
)

export const SessionChallenge = Schema.Struct({
  challenge_id: ChallengeId,
  type: NonEmptyString,
  params: Schema.optional(JsonObject)
})

export const SessionAuthenticate = Schema.Struct({ challenge_id: ChallengeId, response: JsonValue })

export const SessionAccepted = Schema.Struct({
  session_id: SessionId,
  runtime: RuntimeIdentity,
  capabilities: Capabilities,
  lease: Schema.optional(Schema.Struct({ expires_at: Timestamp })),
  /** Our addition: the session's own trust level (§15.3); `runtime.trust_level` is the runtime's. */
  trust_level: Schema.optional(TrustLevel)
})

export const SessionUnauthenticated = Schema.Struct({ reason: Schema.String })

export const SessionRejected = Schema.Struct(errorFields)

/**
 * `session.refresh` (§8.4). `challenge_id`, `type` and `params` are our
 * optional additions: the client echoes `challenge_id` in its `session.authenticate`.
 */
export const SessionRefresh = Schema.Struct({
  reason: Schema.String,
  deadline_ms: NonNegativeInt,
  challenge_id: Schema.optional(ChallengeId),
  type: Schema.optional(Schema.String),
  params: Schema.optional(JsonObject)
})

/** `reason` is a canonical code (§8.5); §10.4 also shows the lower-case `cancelled`. */
export const SessionEvicted = Schema.Struct({
  reason: NonEmptyString,
  message: Schema.optional(Schema.String),
  allow_resume: Schema.optional(Schema.Boolean)
})

export const SessionClose = Schema.Struct({
  reason: Schema.optional(Schema.String),
  dispose_jobs: Schema.optional(Schema.Literal("cancel", "detach"))
})

export const payloads = {
  "session.open": SessionOpen,
  "session.challenge": SessionChallenge,
  "session.authenticate": SessionAuthenticate,
  "session.accepted": SessionAccepted,
  "session.unauthenticated": SessionUnauthenticated,
  "session.rejected": SessionRejected,
  "session.refresh": SessionRefresh,
  "session.evicted": SessionEvicted,
  "session.close": SessionClose
}
