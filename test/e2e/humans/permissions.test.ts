/**
 * Permissions, leases and trust (RFC §15) over a real WebSocket on 127.0.0.1:
 * grant, deny, expiry, refresh, revoke, covering grants, use after expiry,
 * elevation, trust refusal and another principal's grant; timers on TestClock.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Logger, LogLevel, Option, TestClock } from "effect"
import { join } from "node:path"
import * as DemoTools from "../../../src/cli/demoTools.js"
import * as Client from "../../../src/client/Client.js"
import { toMillis } from "../../../src/protocol/Timestamp.js"
import * as Auth from "../../../src/runtime/auth/Auth.js"
import * as PermissionPolicy from "../../../src/runtime/permissions/PermissionPolicy.js"
import { Permissions } from "../../../src/runtime/permissions/Permissions.js"
import * as Runtime from "../../../src/runtime/Runtime.js"
import type * as RuntimeConfig from "../../../src/runtime/RuntimeConfig.js"
import * as Tools from "../../../src/runtime/Tools.js"
import { EventLog } from "../../../src/store/EventLog.js"
import * as MemoryArtifactStore from "../../../src/store/MemoryArtifactStore.js"
import * as MemoryEventLog from "../../../src/store/MemoryEventLog.js"
import type { ScheduleStore } from "../../../src/store/ScheduleStore.js"
import * as SqliteEventLog from "../../../src/store/SqliteEventLog.js"
import { collectUntil, dial, field, webSocket } from "../../support/Harness.js"
import { tempDir } from "../../support/TempDir.js"

/** `use {lease_id}`: an operation under a lease: it checks the lease first (R15.5-1). */
const use = Tools.make({
  name: "use",
  parameters: Tools.AnyArguments,
  handler: (args, ctx) => Effect.map(ctx.checkLease(String(args["lease_id"])), (lease) => ({ used: lease.lease_id }))
})

/** A tool only privileged sessions may invoke (§15.3). */
const vault = Tools.make({
  name: "vault",
  parameters: Tools.AnyArguments,
  minimumTrust: "privileged",
  handler: () => Effect.succeed({ opened: true })
})

const tokens = new Map([["alice-token", "alice"], ["bob-token", "bob"], ["root-token", "root"], [
  "guest-token",
  "guest"
]])

const server = (
  options: { readonly runtime?: RuntimeConfig.Options; readonly log?: Layer.Layer<EventLog | ScheduleStore, unknown> } =
    {}
) =>
  Runtime.serve.pipe(
    Layer.provideMerge(Runtime.layer({ maxLeaseDuration: "600 seconds", idleTimeout: "2 hours", ...options.runtime })),
    Layer.provide(Layer.mergeAll(
      Auth.layer({
        audience: "arcp://runtime",
        bearer: tokens,
        trustLevels: new Map([["root", "privileged"], ["guest", "untrusted"]])
      }),
      Tools.layer([...DemoTools.all, use, vault])
    )),
    Layer.provideMerge(options.log ?? MemoryEventLog.layer),
    Layer.provideMerge(MemoryArtifactStore.layer),
    Layer.provideMerge(webSocket),
    Layer.provide(Logger.minimumLogLevel(LogLevel.None))
  )

const connectAs = (token: string) =>
  Effect.flatMap(dial, (connection) =>
    Client.connect(connection, {
      credentials: { scheme: "bearer", token },
      capabilities: { human_input: true }
    }))

/** Grants small orders, denies big ones, asks for the rest. */
const policy = PermissionPolicy.layer((q) =>
  Effect.succeed(
    q.resource === "order:small"
      ? { _tag: "Grant", grantedBy: "policy" }
      : q.resource === "order:big"
      ? { _tag: "Deny", reason: "too big" }
      : { _tag: "Ask" }
  )
)

const guardedArgs = { permission: "payment.refund.create", resource: "order:ord_4812", operation: "refund" }

const code = (e: { readonly _tag: string; readonly code?: string | undefined }) =>
  e._tag === "ArcpError" ? e.code : e._tag

/** Invokes `guarded` and returns the job with its permission.request. */
const askFor = (session: Client.Session, args: Record<string, unknown> = guardedArgs) =>
  Effect.gen(function*() {
    const job = yield* session.invoke("guarded", args)
    const seen = yield* collectUntil(job.events, (m) => m.type === "permission.request")
    const request = seen.at(-1)
    if (request?.type !== "permission.request") return yield* Effect.dieMessage("the job asked no permission")
    return { job, request, seen }
  })

const stateOf = (jobId: string) =>
  Effect.flatMap(EventLog, (log) => Effect.map(log.getJob(jobId), (r) => Option.getOrUndefined(r)?.state))

describe("permissions and leases over WebSocket", () => {
  it.scoped("R15.4-1 R15.4-2 R15.4-3 R15.4-4 R15.4-5 grant: permission.request with the job id blocks the job; the grant answers lease.granted and the tool resumes with the lease", () =>
    Effect.gen(function*() {
      const session = yield* connectAs("alice-token")
      const { job, request } = yield* askFor(session)
      assert.strictEqual(request.job_id, job.jobId)
      assert.deepStrictEqual(
        [field(request, "permission"), field(request, "resource"), field(request, "operation")],
        ["payment.refund.create", "order:ord_4812", "refund"]
      )
      assert.strictEqual(yield* stateOf(job.jobId), "blocked")
      const lease = yield* session.grant(request)
      assert.strictEqual(lease.permission, "payment.refund.create")
      assert.strictEqual(toMillis(lease.expires_at), 300_000, "the default lease, 5 min after the TestClock's start")
      const granted = yield* collectUntil(job.events, (m) => m.type === "lease.granted")
      assert.strictEqual(granted.at(-1)?.job_id, job.jobId)
      const result = yield* job.outcome
      assert.deepStrictEqual(result, { ...lease })
      assert.strictEqual(yield* stateOf(job.jobId), "completed")
    }).pipe(Effect.provide(server())))

  it.scoped("R15.4-5 R18.2-1 deny: the tool's ask fails PERMISSION_DENIED with the reason and the demo tool fails its job", () =>
    Effect.gen(function*() {
      const session = yield* connectAs("alice-token")
      const { job, request } = yield* askFor(session)
      yield* session.deny(request, "refunds need a manager")
      const error = yield* Effect.flip(job.outcome)
      assert.strictEqual(code(error), "PERMISSION_DENIED")
      assert.include(error.message, "refunds need a manager")
    }).pipe(Effect.provide(server())))

  it.scoped(
    "R15.4-5 an unanswered permission.request expires after the documented deadline (5 min): PERMISSION_DENIED",
    () =>
      Effect.gen(function*() {
        const session = yield* connectAs("alice-token")
        const { job } = yield* askFor(session)
        yield* TestClock.adjust("299 seconds")
        assert.strictEqual(yield* stateOf(job.jobId), "blocked")
        yield* TestClock.adjust("1 second")
        const error = yield* Effect.flip(job.outcome)
        assert.strictEqual(code(error), "PERMISSION_DENIED")
        assert.include(error.message, "in time")
      }).pipe(Effect.provide(server())),
    20_000
  )

  it.scoped("R15.4-1 a covering grant answers later requests of the same scope at once, and a resource pattern covers what it prefixes", () =>
    Effect.gen(function*() {
      const session = yield* connectAs("alice-token")
      const first = yield* askFor(session)
      const lease = yield* session.grant(first.request)
      yield* first.job.outcome
      // same scope: no second prompt, the same lease
      const again = yield* session.invoke("guarded", guardedArgs)
      const events = yield* collectUntil(again.events, (m) => Client.terminalTypes.has(m.type))
      assert.isFalse(events.some((m) => m.type === "permission.request"))
      assert.strictEqual(field(events.at(-1), "value") !== undefined, true)
      assert.deepStrictEqual(yield* again.outcome, { ...lease })
      // another order: asked; granted as order:* it then covers every order
      const other = yield* askFor(session, { ...guardedArgs, resource: "order:ord_1" })
      const wide = yield* session.grant(other.request, { resource: "order:*" })
      assert.strictEqual(wide.resource, "order:*")
      const third = yield* session.invoke("guarded", { ...guardedArgs, resource: "order:ord_2" })
      assert.strictEqual(Reflect.get(Object(yield* third.outcome), "lease_id"), wide.lease_id)
      // a grant that does not cover the request is refused
      const narrow = yield* askFor(session, { ...guardedArgs, operation: "void" })
      const refused = yield* Effect.flip(session.request("permission.grant", {
        permission: "payment.refund.create",
        resource: "customer:*",
        operation: "void"
      }, { correlation_id: narrow.request.id }))
      assert.strictEqual(code(refused), "INVALID_ARGUMENT")
    }).pipe(Effect.provide(server())))

  it.scoped(
    "R15.5-1 refresh extends a lease (capped at the maximum); after expiry a use and a refresh fail PERMISSION_DENIED",
    () =>
      Effect.gen(function*() {
        const session = yield* connectAs("alice-token")
        const { request } = yield* askFor(session)
        const lease = yield* session.grant(request)
        assert.strictEqual(toMillis(lease.expires_at), 60_000, "the 5 min default, capped at the 60 s maximum")
        yield* TestClock.adjust("30 seconds")
        const extended = yield* session.refreshLease(lease.lease_id, 7200)
        assert.strictEqual(extended.lease_id, lease.lease_id)
        assert.strictEqual(toMillis(extended.expires_at), 90_000, "now + the 60 s maximum")
        assert.deepStrictEqual(yield* (yield* session.invoke("use", { lease_id: lease.lease_id })).outcome, {
          used: lease.lease_id
        })
        yield* TestClock.adjust("61 seconds")
        const late = yield* Effect.flip((yield* session.invoke("use", { lease_id: lease.lease_id })).outcome)
        assert.strictEqual(code(late), "PERMISSION_DENIED")
        assert.include(late.message, "expired")
        const refresh = yield* Effect.flip(session.refreshLease(lease.lease_id, 60))
        assert.strictEqual(code(refresh), "PERMISSION_DENIED")
        // an expired lease covers nothing: the next request asks again
        yield* askFor(session)
      }).pipe(Effect.provide(server({ runtime: { maxLeaseDuration: "60 seconds" } }))),
    20_000
  )

  it.scoped("R15.5-1 an operator revokes a lease: lease.revoked with the reason; a use after it fails PERMISSION_DENIED", () =>
    Effect.gen(function*() {
      const session = yield* connectAs("alice-token")
      const messages = yield* session.messages
      const { request } = yield* askFor(session)
      const lease = yield* session.grant(request)
      yield* (yield* Permissions).revoke(lease.lease_id, "operator: fraud review")
      const revoked = (yield* collectUntil(messages, (m) => m.type === "lease.revoked")).at(-1)
      assert.deepStrictEqual([field(revoked, "lease_id"), field(revoked, "reason")], [
        lease.lease_id,
        "operator: fraud review"
      ])
      const error = yield* Effect.flip((yield* session.invoke("use", { lease_id: lease.lease_id })).outcome)
      assert.strictEqual(code(error), "PERMISSION_DENIED")
      assert.include(error.message, "revoked")
    }).pipe(Effect.provide(server())))

  it.scoped("R15.4-4 a second principal cannot grant (or deny) the first's request: NOT_FOUND, and the job still waits", () =>
    Effect.gen(function*() {
      const alice = yield* connectAs("alice-token")
      const bob = yield* connectAs("bob-token")
      const { job, request } = yield* askFor(alice)
      assert.strictEqual(code(yield* Effect.flip(bob.grant(request))), "NOT_FOUND")
      assert.strictEqual(code(yield* Effect.flip(bob.deny(request, "no"))), "NOT_FOUND")
      assert.strictEqual(yield* stateOf(job.jobId), "blocked")
      yield* alice.grant(request)
      yield* job.outcome
    }).pipe(Effect.provide(server())))

  it.scoped("R18.2-1 trust levels (§15.3) come from the credentials and are reported in session.accepted; an invoke below a tool's level is refused PERMISSION_DENIED naming it", () =>
    Effect.gen(function*() {
      const alice = yield* connectAs("alice-token")
      const root = yield* connectAs("root-token")
      const guest = yield* connectAs("guest-token")
      assert.deepStrictEqual([alice.trustLevel, root.trustLevel, guest.trustLevel], [
        "trusted",
        "privileged",
        "untrusted"
      ])
      const refused = yield* Effect.flip(alice.invoke("vault", {}))
      assert.strictEqual(code(refused), "PERMISSION_DENIED")
      assert.include(refused.message, "privileged")
      assert.deepStrictEqual(yield* (yield* root.invoke("vault", {})).outcome, { opened: true })
    }).pipe(Effect.provide(server())))

  it.scoped(
    "R15.6-1 R15.6-2 elevation through trust.elevate.privileged: lease-scoped, audited with a log and a metric event",
    () =>
      Effect.gen(function*() {
        const alice = yield* connectAs("alice-token")
        const { job, request } = yield* askFor(alice, {
          permission: "trust.elevate.privileged",
          resource: "session",
          operation: "elevate"
        })
        const lease = yield* alice.grant(request)
        const events = yield* collectUntil(job.events, (m) => Client.terminalTypes.has(m.type))
        const log = events.find((m) => m.type === "log" && String(field(m, "message")).includes("elevated"))
        assert.include(String(field(log, "message")), "from trusted to privileged")
        const metric = events.find((m) => m.type === "metric" && field(m, "name") === "arcpx.arcp.trust.elevations")
        assert.deepStrictEqual(field(metric, "dims"), { from: "trusted", to: "privileged" })
        assert.deepStrictEqual(yield* (yield* alice.invoke("vault", {})).outcome, { opened: true })
        // the elevation ends with its lease
        yield* TestClock.adjust(`${(toMillis(lease.expires_at) / 1000) + 1} seconds`)
        assert.strictEqual(code(yield* Effect.flip(alice.invoke("vault", {}))), "PERMISSION_DENIED")
      }).pipe(Effect.provide(server())),
    20_000
  )

  it.scoped("R15.5-1 R4.3-1 leases are in the store: after a reconnect, and after a restart on the same SQLite file, the lease still covers and refreshes", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("arcp-leases-")
      const log = SqliteEventLog.layer({ filename: join(dir, "arcp.db") })
      const leaseId = yield* Effect.scoped(
        Effect.gen(function*() {
          const lease = yield* Effect.scoped(Effect.gen(function*() {
            const first = yield* connectAs("alice-token")
            const { request } = yield* askFor(first)
            return yield* first.grant(request)
          }))
          // a new connection, a new session of the same principal
          const second = yield* connectAs("alice-token")
          assert.deepStrictEqual(yield* (yield* second.invoke("guarded", guardedArgs)).outcome, { ...lease })
          return lease.lease_id
        }).pipe(Effect.provide(server({ log })))
      )
      yield* Effect.scoped(
        Effect.gen(function*() {
          const session = yield* connectAs("alice-token")
          const outcome = yield* (yield* session.invoke("guarded", guardedArgs)).outcome
          assert.strictEqual(Reflect.get(Object(outcome), "lease_id"), leaseId)
          assert.strictEqual((yield* session.refreshLease(leaseId, 60)).lease_id, leaseId)
        }).pipe(Effect.provide(server({ log })))
      )
    }))

  it.scoped("R15.4-5 a PermissionPolicy provided to the runtime grants or denies without asking the client", () =>
    Effect.gen(function*() {
      const session = yield* connectAs("alice-token")
      const granted = yield* session.invoke("guarded", { ...guardedArgs, resource: "order:small" })
      const events = yield* collectUntil(granted.events, (m) => Client.terminalTypes.has(m.type))
      assert.isFalse(events.some((m) => m.type === "permission.request"))
      assert.isTrue(events.some((m) => m.type === "lease.granted"))
      const denied = yield* session.invoke("guarded", { ...guardedArgs, resource: "order:big" })
      assert.strictEqual(code(yield* Effect.flip(denied.outcome)), "PERMISSION_DENIED")
    }).pipe(Effect.provide(server().pipe(Layer.provide(policy)))))
})
