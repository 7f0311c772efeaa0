/**
 * The event log on PostgreSQL: the same contract as SQLite's, for several runtimes sharing one
 * database. Writes go through the group commit (one transaction per group, see PgWriter: positions in
 * commit order); reads are the shared SQL reads, straight on the pool.
 */
import { SqlClient } from "@effect/sql"
import { Effect, Schedule } from "effect"
import { EventLog, EventLogError } from "../EventLog.js"
import * as GroupCommit from "../internal/GroupCommit.js"
import * as SqlReads from "../internal/SqlReads.js"
import * as PgWriter from "./PgWriter.js"

/** A deadlock or serialization failure: the group is tried again, as a whole. */
const retryable = (error: EventLogError) => {
  const cause = error.cause
  const code = typeof cause === "object" && cause !== null && "cause" in cause ? codeOf(cause.cause) : undefined
  return code === "40P01" || code === "40001"
}
const codeOf = (e: unknown) =>
  typeof e === "object" && e !== null && "code" in e && typeof e.code === "string" ? e.code : undefined

const failure = (cause: unknown) =>
  new EventLogError({ reason: "Write", message: cause instanceof Error ? cause.message : String(cause), cause })

/**
 * `onInbound` hears the positions this runtime's inbound envelopes took, once committed (the bus uses
 * them to deliver its own outbound envelopes without reading the log back, see PgEventBus).
 */
export const make = (onInbound: (positions: ReadonlyArray<number>) => void = () => {}) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const writes = yield* GroupCommit.make(
      (group) =>
        PgWriter.commit(sql, group).pipe(
          Effect.map(({ inbound, results }) => {
            if (inbound.length > 0) onInbound(inbound)
            return results
          }),
          Effect.mapError(failure),
          Effect.retry({ schedule: Schedule.recurs(3), while: retryable })
        ),
      "PostgreSQL"
    )
    return EventLog.of({ ...writes, ...SqlReads.make(sql, { skipCopies: false }) })
  })
