/** The lease lifecycle on TestClock (RFC §15.5): expiry, refresh, revocation when the session lease ends, reload. */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, Layer, Option, Queue, Ref, TestClock } from "effect"
import { toMillis } from "../../src/protocol/Timestamp.js"
import * as Leases from "../../src/runtime/permissions/Leases.js"
import * as PermissionPolicy from "../../src/runtime/permissions/PermissionPolicy.js"
import * as Permissions from "../../src/runtime/permissions/Permissions.js"
import * as RuntimeConfig from "../../src/runtime/RuntimeConfig.js"
import { EventLog } from "../../src/store/EventLog.js"
import * as MemoryEventLog from "../../src/store/MemoryEventLog.js"

const scope = { permission: "email.send", resource: "mailbox:ops", operation: "send" }

const grantOne = (leases: Leases.Leases, holder: Leases.Holder = {}) =>
  leases.grant({ ...scope, principal: "alice", sessionId: "sess_1", seconds: 60, holder })

describe("Leases", () => {
  it.scoped("R15.5-1 a lease lives until expires_at on the clock, then checks fail PERMISSION_DENIED and it covers nothing", () =>
    Effect.gen(function*() {
      const leases = yield* Leases.make(yield* EventLog)
      const lease = yield* grantOne(leases)
      assert.strictEqual(toMillis(lease.expires_at), 60_000)
      yield* TestClock.adjust("59 seconds")
      assert.strictEqual((yield* leases.check(lease.lease_id, "alice")).lease_id, lease.lease_id)
      assert.isTrue(Option.isSome(yield* leases.covering("alice", scope)))
      const other = yield* Effect.either(leases.check(lease.lease_id, "bob"))
      assert.isTrue(Either.isLeft(other) && other.left.code === "PERMISSION_DENIED", "another principal holds nothing")
      yield* TestClock.adjust("1 second")
      const expired = yield* Effect.flip(leases.check(lease.lease_id, "alice"))
      assert.strictEqual(expired.code, "PERMISSION_DENIED")
      assert.isTrue(Option.isNone(yield* leases.covering("alice", scope)))
    }).pipe(Effect.provide(MemoryEventLog.layer)))

  it.scoped("R15.5-1 refresh moves expires_at and re-arms the timer; revoke tells the holder and is final", () =>
    Effect.gen(function*() {
      const leases = yield* Leases.make(yield* EventLog)
      const told = yield* Queue.unbounded<string>()
      const lease = yield* grantOne(leases, { notify: (p) => Queue.offer(told, p.reason) })
      yield* TestClock.adjust("50 seconds")
      const extended = yield* leases.refresh(lease.lease_id, "alice", 60, {})
      assert.strictEqual(toMillis(extended.expires_at), 110_000)
      yield* TestClock.adjust("30 seconds")
      assert.strictEqual((yield* leases.check(lease.lease_id, "alice")).expires_at, extended.expires_at)
      yield* leases.revoke(lease.lease_id, "operator")
      assert.strictEqual(yield* Queue.take(told), "operator")
      assert.include((yield* Effect.flip(leases.check(lease.lease_id, "alice"))).message, "revoked: operator")
      assert.strictEqual(
        (yield* Effect.flip(leases.refresh(lease.lease_id, "alice", 60, {}))).code,
        "PERMISSION_DENIED"
      )
      assert.strictEqual((yield* Effect.flip(leases.revoke(lease.lease_id, "again"))).code, "NOT_FOUND")
    }).pipe(Effect.provide(MemoryEventLog.layer)))

  it.scoped("R15.5-1 a lease is revoked when the session lease it was granted under ends unrenewed, not before", () =>
    Effect.gen(function*() {
      const leases = yield* Leases.make(yield* EventLog)
      const sessionEnd = yield* Ref.make(20_000)
      const told = yield* Queue.unbounded<string>()
      const lease = yield* grantOne(leases, {
        notify: (p) => Queue.offer(told, p.reason),
        sessionLeaseEnd: Ref.get(sessionEnd)
      })
      yield* TestClock.adjust("10 seconds")
      yield* Ref.set(sessionEnd, 40_000) // the session re-authenticated
      yield* TestClock.adjust("15 seconds")
      assert.strictEqual((yield* leases.check(lease.lease_id, "alice")).lease_id, lease.lease_id)
      yield* TestClock.adjust("15 seconds")
      assert.strictEqual(yield* Queue.take(told), "the session's lease ended")
      assert.strictEqual((yield* Effect.flip(leases.check(lease.lease_id, "alice"))).code, "PERMISSION_DENIED")
    }).pipe(Effect.provide(MemoryEventLog.layer)))

  it.scoped("R15.5-1 leases stored by an earlier run are live again, and still expire on time", () =>
    Effect.gen(function*() {
      const log = yield* EventLog
      const lease = yield* Effect.scoped(Effect.flatMap(Leases.make(log), (leases) => grantOne(leases)))
      const again = yield* Leases.make(log)
      assert.deepStrictEqual(Option.getOrUndefined(yield* again.covering("alice", scope)), lease)
      yield* TestClock.adjust("60 seconds")
      assert.strictEqual((yield* Effect.flip(again.check(lease.lease_id, "alice"))).code, "PERMISSION_DENIED")
    }).pipe(Effect.provide(MemoryEventLog.layer)))

  it("covers: same permission and operation; the same resource or a * pattern that prefixes it", () => {
    assert.isTrue(Leases.covers(scope, scope))
    assert.isTrue(Leases.covers({ ...scope, resource: "mailbox:*" }, scope))
    assert.isTrue(Leases.covers({ ...scope, resource: "*" }, scope))
    assert.isFalse(Leases.covers({ ...scope, resource: "mail:*x" }, scope))
    assert.isFalse(Leases.covers(scope, { ...scope, resource: "mailbox:*" }), "a pattern request needs a pattern grant")
    assert.isFalse(Leases.covers({ ...scope, operation: "read" }, scope))
    assert.isFalse(Leases.covers({ ...scope, permission: "email.read" }, scope))
  })

  it.scoped("R15.5-1 one principal holds at most MAX_LEASES live leases: the next grant is RESOURCE_EXHAUSTED, others are unaffected", () =>
    Effect.gen(function*() {
      const leases = yield* Leases.make(yield* EventLog)
      for (let i = 0; i < Leases.MAX_LEASES; i++) yield* grantOne(leases)
      assert.strictEqual((yield* Effect.flip(grantOne(leases))).code, "RESOURCE_EXHAUSTED")
      const bob = yield* leases.grant({ ...scope, principal: "bob", sessionId: "sess_2", seconds: 60, holder: {} })
      assert.strictEqual(bob.permission, scope.permission)
    }).pipe(Effect.provide(MemoryEventLog.layer)))

  it.scoped("R14-1 inherited permissions: leases of the delegated job only, as far as the receiver's policy grants", () =>
    Effect.gen(function*() {
      const permissions = yield* Permissions.Permissions
      const heir = {
        principal: "runtime-a",
        sessionId: "sess_a",
        jobId: "job_delegated",
        tool: "guarded",
        trustLevel: "trusted" as const,
        delegator: "runtime-a"
      }
      const { granted, refused } = yield* permissions.inherit(heir, ["filesystem.read", "net.fetch", "email.send"])
      // filesystem.read granted (any resource, any operation); net.fetch denied; email.send only askable
      assert.deepStrictEqual(granted.map((l) => [l.permission, l.resource, l.operation]), [
        ["filesystem.read", "*", "*"]
      ])
      assert.deepStrictEqual(refused, ["net.fetch", "email.send"])
      const requester = (jobId: string) => ({
        principal: "runtime-a",
        sessionId: "sess_a",
        jobId,
        tool: "guarded",
        trustLevel: "trusted" as const,
        emit: () => Effect.dieMessage("nothing is emitted for a covered request"),
        block: Effect.void,
        unblock: Effect.void
      })
      const ask = { permission: "filesystem.read", resource: "/srv/report.txt", operation: "read" }
      // the delegated job uses its inherited lease at once
      const used = yield* permissions.request(requester("job_delegated"), ask)
      assert.strictEqual(used.lease_id, granted[0]?.lease_id)
      // another job of the same principal does not: the policy (deny outside delegation) answers it
      const other = yield* Effect.either(permissions.request(requester("job_other"), ask))
      assert.isTrue(Either.isLeft(other) && other.left.code === "PERMISSION_DENIED")
      // nor does the delegated job get what was refused
      const refusedAsk = yield* Effect.either(
        permissions.request(requester("job_delegated"), { ...ask, permission: "net.fetch" })
      )
      assert.isTrue(Either.isLeft(refusedAsk) && refusedAsk.left.code === "PERMISSION_DENIED")
    }).pipe(
      Effect.provide(
        Permissions.layer.pipe(
          Layer.provide(
            PermissionPolicy.layer((q) =>
              Effect.succeed<PermissionPolicy.PermissionDecision>(
                q.permission === "email.send"
                  ? { _tag: "Ask" }
                  : q.permission === "filesystem.read" && q.reason?.startsWith("inherited") === true
                  ? { _tag: "Grant" }
                  : { _tag: "Deny", reason: "not outside a delegation" }
              )
            )
          ),
          Layer.provide(RuntimeConfig.layer({})),
          Layer.provide(MemoryEventLog.layer)
        )
      )
    ))
})
