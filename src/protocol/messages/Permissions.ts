/** Permission and lease messages (RFC §15.4, §15.5). */
import { Schema } from "effect"
import { LeaseId } from "../Ids.js"
import { Timestamp } from "../Timestamp.js"
import { NonEmptyString, PositiveInt } from "./Common.js"

/** What every permission message scopes: a permission on a resource for an operation (§15.4). */
const scope = { permission: NonEmptyString, resource: NonEmptyString, operation: NonEmptyString }

export const PermissionRequest = Schema.Struct({
  ...scope,
  reason: Schema.optional(Schema.String),
  requested_lease_seconds: Schema.optional(PositiveInt)
})

export const PermissionGrant = Schema.Struct({
  ...scope,
  lease_id: Schema.optional(LeaseId),
  granted_by: Schema.optional(Schema.String),
  expires_at: Schema.optional(Timestamp)
})

export const PermissionDeny = Schema.Struct({ ...scope, reason: Schema.String })

export const LeaseGranted = Schema.Struct({ lease_id: LeaseId, ...scope, expires_at: Timestamp })

export const LeaseRefresh = Schema.Struct({ lease_id: LeaseId, requested_seconds: PositiveInt })

export const LeaseExtended = Schema.Struct({ lease_id: LeaseId, expires_at: Timestamp })

export const LeaseRevoked = Schema.Struct({ lease_id: LeaseId, reason: Schema.String })

export const payloads = {
  "permission.request": PermissionRequest,
  "permission.grant": PermissionGrant,
  "permission.deny": PermissionDeny,
  "lease.granted": LeaseGranted,
  "lease.extended": LeaseExtended,
  "lease.revoked": LeaseRevoked,
  "lease.refresh": LeaseRefresh
}
