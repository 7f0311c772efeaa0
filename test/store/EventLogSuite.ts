/** The EventLog contract, run against each backend (memory, SQLite). */
import { assert, it } from "@effect/vitest"
import { Effect, type Layer, Option } from "effect"
import {
  EventLog,
  type EventLogError,
  type InstanceRecord,
  type JobRecord,
  type LeaseRecord,
  type LoggedEnvelope,
  readAll,
  type SessionRecord
} from "../../src/store/EventLog.js"
import { type ScheduleRecord, ScheduleStore } from "../../src/store/ScheduleStore.js"

export const envelope = (id: string, extra: Partial<LoggedEnvelope> = {}): LoggedEnvelope => ({
  id,
  type: "job.progress",
  session_id: "sess_1",
  timestamp: "2026-05-09T13:00:00Z",
  json: JSON.stringify({ id }),
  ...extra
})

export const job = (id: string, extra: Partial<JobRecord> = {}): JobRecord => ({
  job_id: id,
  session_id: "sess_1",
  principal: "alice",
  tool: "echo",
  command_id: "msg_cmd",
  state: "accepted",
  retry_count: 0,
  created_at: 1,
  updated_at: 1,
  ...extra
})

export const lease = (id: string, extra: Partial<LeaseRecord> = {}): LeaseRecord => ({
  lease_id: id,
  principal: "alice",
  session_id: "sess_1",
  permission: "payment.refund.create",
  resource: "order:1",
  operation: "refund",
  expires_at: 1000,
  created_at: 1,
  ...extra
})

export const session = (id: string, extra: Partial<SessionRecord> = {}): SessionRecord => ({
  session_id: id,
  principal: "alice",
  capabilities: "{}",
  lease_expires_at: 5000,
  last_position: 0,
  state: "attached",
  instance_id: "inst_a",
  created_at: 1,
  updated_at: 1,
  ...extra
})

export const instance = (id: string, extra: Partial<InstanceRecord> = {}): InstanceRecord => ({
  instance_id: id,
  host: "node-1",
  pid: 100,
  started_at: 1,
  heartbeat_at: 1,
  ...extra
})

/** An active schedule of alice's firing into `sessionId`. */
const schedule = (id: string, sessionId: string, extra: Partial<ScheduleRecord> = {}): ScheduleRecord => ({
  schedule_id: id,
  principal: "alice",
  session_id: sessionId,
  command_id: `msg_${id}`,
  job: "{}",
  when: "{}",
  missed: "run_once",
  state: "active",
  fire_count: 0,
  created_at: 1,
  updated_at: 1,
  ...extra
})

/** Every backend keeps its schedules beside its log (the retention keeps the owners of scheduled sessions). */
export const eventLogSuite = (layer: () => Layer.Layer<EventLog | ScheduleStore, EventLogError>) => {
  const withLog = <A, E>(body: Effect.Effect<A, E, EventLog | ScheduleStore>) => Effect.provide(body, layer())

  it.effect("R4.3-1 appends keep their order across directions; outbound records return increasing positions", () =>
    withLog(Effect.gen(function*() {
      const log = yield* EventLog
      assert.strictEqual(yield* log.head, 0)
      yield* log.recordInbound("alice", [envelope("m1", { type: "tool.invoke" })])
      const positions = yield* log.recordOutbound([envelope("m2", { correlation_id: "m1" }), envelope("m3")])
      const later = yield* log.recordOutbound([envelope("m4", { session_id: "sess_2" })])
      assert.strictEqual(positions.length, 2)
      assert.isTrue((positions[0] ?? 0) < (positions[1] ?? 0) && (positions[1] ?? 0) < (later[0] ?? 0))
      assert.strictEqual(yield* log.head, later[0])
      const events = yield* readAll(log, { session_id: ["sess_1"] })
      assert.deepStrictEqual(events.map((e) => [e.id, e.direction]), [["m1", "in"], ["m2", "out"], ["m3", "out"]])
      assert.deepStrictEqual(events.slice(1).map((e) => e.position), [...positions])
      assert.deepStrictEqual(
        (yield* log.read({ session_id: ["sess_1"], after: events[0]?.position ?? 0 })).map((e) => e.id),
        ["m2", "m3"]
      )
      assert.deepStrictEqual((yield* log.read({ correlation_id: ["m1"], direction: "out" })).map((e) => e.id), ["m2"])
    })))

  it.effect("R4.3-1 read: AND across fields, OR within one, after a position, paged by limit", () =>
    withLog(Effect.gen(function*() {
      const log = yield* EventLog
      yield* log.recordOutbound([
        envelope("p1", { job_id: "job_a", type: "job.progress", trace_id: "t1" }),
        envelope("p2", { job_id: "job_b", type: "log", stream_id: "str_1" }),
        envelope("p3", { job_id: "job_a", type: "log", session_id: "sess_2" }),
        envelope("p4", { job_id: "job_c", type: "job.progress", trace_id: "t2" })
      ])
      const ids = (rows: ReadonlyArray<{ readonly id: string }>) => rows.map((r) => r.id)
      assert.deepStrictEqual(ids(yield* log.read({ job_id: ["job_a", "job_c"] })), ["p1", "p3", "p4"])
      assert.deepStrictEqual(ids(yield* log.read({ job_id: ["job_a", "job_c"], types: ["log"] })), ["p3"])
      assert.deepStrictEqual(ids(yield* log.read({ stream_id: ["str_1"] })), ["p2"])
      assert.deepStrictEqual(ids(yield* log.read({ trace_id: ["t2", "t9"] })), ["p4"])
      assert.deepStrictEqual(ids(yield* log.read({ session_id: ["sess_1"], types: ["job.progress"] })), ["p1", "p4"])
      assert.deepStrictEqual(ids(yield* log.read({ job_id: [] })), [], "an empty list allows nothing")
      const first = yield* log.read({ limit: 2 })
      assert.deepStrictEqual(ids(first), ["p1", "p2"])
      assert.deepStrictEqual(ids(yield* log.read({ limit: 2, after: first[1]?.position ?? 0 })), ["p3", "p4"])
      assert.deepStrictEqual(ids(yield* readAll(log, {})), ["p1", "p2", "p3", "p4"])
    })))

  it.effect("R6.4-2 R6.1.1-2 an inbound id is New once per principal, then Duplicate", () =>
    withLog(Effect.gen(function*() {
      const log = yield* EventLog
      const first = yield* log.recordInbound("alice", [envelope("a1"), envelope("a2")])
      const again = yield* log.recordInbound("alice", [envelope("a2"), envelope("a3")])
      const bob = yield* log.recordInbound("bob", [envelope("a1")])
      assert.deepStrictEqual(first.map((v) => v._tag), ["New", "New"])
      assert.deepStrictEqual(again.map((v) => v._tag), ["Duplicate", "New"])
      assert.deepStrictEqual(bob.map((v) => v._tag), ["New"])
    })))

  it.effect("R6.4-2 R6.1.1-2 a repeated id inside one batch runs once: the first copy is New, the others Duplicate", () =>
    withLog(Effect.gen(function*() {
      const log = yield* EventLog
      assert.deepStrictEqual((yield* log.recordInbound("alice", [envelope("x1"), envelope("x1")])).map((v) => v._tag), [
        "New",
        "Duplicate"
      ])
      const interleaved = yield* log.recordInbound("alice", [
        envelope("y1"),
        envelope("y2"),
        envelope("y1"),
        envelope("x1"),
        envelope("y2")
      ])
      assert.deepStrictEqual(interleaved.map((v) => v._tag), ["New", "New", "Duplicate", "Duplicate", "Duplicate"])
      // the same id from two batches committed together: still exactly one New
      const together = yield* Effect.all([
        log.recordInbound("alice", [envelope("z1")]),
        log.recordInbound("alice", [envelope("z1")])
      ], {
        concurrency: "unbounded"
      })
      assert.deepStrictEqual(together.flatMap((v) => v.map((x) => x._tag)).sort(), ["Duplicate", "New"])
      // only first copies are logged
      assert.deepStrictEqual((yield* readAll(log, { session_id: ["sess_1"] })).map((e) => e.id), [
        "x1",
        "y1",
        "y2",
        "z1"
      ])
    })))

  it.effect("R6.4-2 a by-job read lists what was sent for one job, in order, each envelope once", () =>
    withLog(Effect.gen(function*() {
      const log = yield* EventLog
      yield* log.recordInbound("alice", [envelope("j0", { job_id: "job_a" })])
      yield* log.recordInbound("alice", [envelope("j00", { session_id: "sess_2" })])
      yield* log.recordOutbound([envelope("j1", { job_id: "job_a" }), envelope("j2", { job_id: "job_b" })])
      yield* log.recordOutbound([envelope("j3", { job_id: "job_a", session_id: "sess_2" })])
      assert.deepStrictEqual(
        (yield* readAll(log, { job_id: ["job_a"], direction: "out" })).map((e) => [e.id, e.session_id]),
        [["j1", "sess_1"], ["j3", "sess_2"]]
      )
      assert.deepStrictEqual(yield* readAll(log, { job_id: ["job_none"] }), [])
    })))

  it.effect("R6.4-2 each row carries its session's owner; a later inbound of another principal does not take a session over", () =>
    withLog(Effect.gen(function*() {
      const log = yield* EventLog
      // alice's session sess_a and bob's sess_b both used message id X
      yield* log.recordInbound("alice", [envelope("X", { session_id: "sess_a", type: "tool.invoke" })])
      yield* log.recordInbound("bob", [envelope("X", { session_id: "sess_b", type: "ping" })])
      yield* log.recordOutbound([
        envelope("acc", { session_id: "sess_a", type: "job.accepted", job_id: "job_a", correlation_id: "X" }),
        envelope("pong", { session_id: "sess_b", type: "pong", correlation_id: "X" })
      ])
      yield* log.recordInbound("bob", [envelope("hijack", { session_id: "sess_a" })])
      yield* log.recordOutbound([envelope("stray", { session_id: "sess_z", correlation_id: "X" })])
      assert.deepStrictEqual(
        (yield* log.read({ correlation_id: ["X"], direction: "out" })).map((e) => [e.id, e.principal]),
        [["acc", "alice"], ["pong", "bob"], ["stray", undefined]]
      )
      assert.deepStrictEqual(
        (yield* log.read({ session_id: ["sess_a"], direction: "in" })).map((e) => [e.id, e.principal]),
        [["X", "alice"], ["hijack", "alice"]]
      )
    })))

  it.effect("R10.2-2 staged job writes land in call order; the last one wins", () =>
    withLog(Effect.gen(function*() {
      const log = yield* EventLog
      yield* log.stageJob(job("job_s", { state: "accepted" }))
      yield* log.stageJob(job("job_s", { state: "running", updated_at: 2 }))
      yield* log.stageJob(job("job_t", { state: "blocked" }))
      // an awaited write after staged ones commits them too, in order
      yield* log.saveJob(job("job_u"))
      assert.strictEqual(Option.getOrUndefined(yield* log.getJob("job_s"))?.state, "running")
      assert.strictEqual(Option.getOrUndefined(yield* log.getJob("job_t"))?.state, "blocked")
      yield* log.stageJob(job("job_s", { state: "completed", terminal: "{}", updated_at: 3 }))
      yield* log.saveJob(job("job_s", { state: "cancelled", updated_at: 4 }))
      assert.strictEqual(Option.getOrUndefined(yield* log.getJob("job_s"))?.state, "cancelled")
    })))

  it.effect("R6.4-5 an idempotency key is claimed once within its horizon, and again after it", () =>
    withLog(Effect.gen(function*() {
      const log = yield* EventLog
      const claim = (job_id: string, now: number, digest = "sha256:a") =>
        log.claimIdempotencyKey({ principal: "alice", key: "k", job_id, digest, now, expiresAt: now + 1000 })
      assert.deepStrictEqual(yield* claim("job_1", 0), { _tag: "Claimed" })
      assert.deepStrictEqual(yield* claim("job_2", 500), { _tag: "Existing", job_id: "job_1", digest: "sha256:a" })
      assert.deepStrictEqual(yield* claim("job_3", 1500, "sha256:b"), { _tag: "Claimed" })
      assert.deepStrictEqual(
        yield* log.claimIdempotencyKey({
          principal: "bob",
          key: "k",
          job_id: "job_4",
          digest: "sha256:c",
          now: 0,
          expiresAt: 10
        }),
        { _tag: "Claimed" }
      )
    })))

  it.effect("R6.4-5 a claim keeps the digest it was made with: a repeat reads the first command's, not its own", () =>
    withLog(Effect.gen(function*() {
      const log = yield* EventLog
      const claim = (job_id: string, digest: string) =>
        log.claimIdempotencyKey({ principal: "alice", key: "refund", job_id, digest, now: 0, expiresAt: 1000 })
      assert.deepStrictEqual(yield* claim("job_1", "sha256:echo"), { _tag: "Claimed" })
      assert.deepStrictEqual(yield* claim("job_2", "sha256:sleep"), {
        _tag: "Existing",
        job_id: "job_1",
        digest: "sha256:echo"
      })
      assert.deepStrictEqual(yield* claim("job_3", "sha256:echo"), {
        _tag: "Existing",
        job_id: "job_1",
        digest: "sha256:echo"
      })
    })))

  it.effect("R10.2-2 R10.2-3 R10.2-5 job records round-trip and update in place", () =>
    withLog(Effect.gen(function*() {
      const log = yield* EventLog
      assert.isTrue(Option.isNone(yield* log.getJob("job_x")))
      yield* log.saveJob(job("job_x"))
      yield* log.saveJob(
        job("job_x", {
          state: "cancelled",
          checkpoint_id: "chk_1",
          cancel_reason: "user_aborted",
          terminal: "{}",
          updated_at: 2
        })
      )
      const stored = yield* log.getJob("job_x")
      assert.deepStrictEqual(
        Option.getOrUndefined(stored),
        job("job_x", {
          state: "cancelled",
          checkpoint_id: "chk_1",
          cancel_reason: "user_aborted",
          terminal: "{}",
          updated_at: 2
        })
      )
    })))

  it.effect("R10.2-2 R10.2-1 unfinishedJobs lists the job records with no terminal, oldest first, and drops a job once it ends", () =>
    withLog(Effect.gen(function*() {
      const log = yield* EventLog
      assert.deepStrictEqual(yield* log.unfinishedJobs, [])
      yield* log.saveJob(job("job_late", { state: "running", created_at: 5 }))
      yield* log.saveJob(job("job_done", { state: "completed", terminal: "{}", created_at: 1 }))
      yield* log.saveJob(job("job_b", { state: "blocked", created_at: 2 }))
      yield* log.saveJob(job("job_a", { idempotency_key: "k", created_at: 2 }))
      assert.deepStrictEqual(yield* log.unfinishedJobs, [
        job("job_a", { idempotency_key: "k", created_at: 2 }),
        job("job_b", { state: "blocked", created_at: 2 }),
        job("job_late", { state: "running", created_at: 5 })
      ])
      yield* log.saveJob(job("job_b", { state: "failed", terminal: "{}", created_at: 2, updated_at: 3 }))
      assert.deepStrictEqual((yield* log.unfinishedJobs).map((j) => j.job_id), ["job_a", "job_late"])
    })))

  it.effect("concurrent appends all land, and large batches too", () =>
    withLog(Effect.gen(function*() {
      const log = yield* EventLog
      yield* Effect.forEach(Array.from({ length: 200 }, (_, i) => i), (i) =>
        log.recordOutbound([envelope(`c${i}`, { session_id: "sess_c" })]), {
        concurrency: "unbounded",
        discard: true
      })
      yield* log.recordOutbound(Array.from({ length: 2000 }, (_, i) =>
        envelope(`b${i}`, { session_id: "sess_b" })))
      const burst = yield* log.recordInbound(
        "alice",
        Array.from({ length: 1200 }, (_, i) =>
          envelope(`in${i % 1100}`, { session_id: "sess_in" }))
      )
      assert.deepStrictEqual(
        burst.map((v) => v._tag),
        Array.from({ length: 1200 }, (_, i) => (i < 1100 ? "New" : "Duplicate"))
      )
      yield* log.recordInbound("alice", [envelope("open_c", { session_id: "sess_c" })])
      yield* log.recordInbound("alice", [envelope("open_b", { session_id: "sess_b" })])
      assert.strictEqual((yield* readAll(log, { session_id: ["sess_c"] })).length, 201)
      assert.deepStrictEqual(
        (yield* readAll(log, { session_id: ["sess_b"] })).slice(0, 2000).map((e) => e.id),
        Array.from({ length: 2000 }, (_, i) => `b${i}`)
      )
    })))

  it.effect("R15.5-1 leases are stored, replaced on save, and live ones listed (not revoked, not expired), oldest first", () =>
    withLog(Effect.gen(function*() {
      const log = yield* EventLog
      yield* log.saveLease(lease("lease_a", { job_id: "job_1", granted_by: "ops" }))
      yield* log.saveLease(lease("lease_b", { created_at: 2, expires_at: 500 }))
      yield* log.saveLease(lease("lease_c", { created_at: 3 }))
      yield* log.saveLease(lease("lease_c", { created_at: 3, revoked: "operator" }))
      assert.deepStrictEqual(
        Option.getOrUndefined(yield* log.getLease("lease_a")),
        lease("lease_a", { job_id: "job_1", granted_by: "ops" })
      )
      assert.strictEqual(Option.getOrUndefined(yield* log.getLease("lease_c"))?.revoked, "operator")
      assert.isTrue(Option.isNone(yield* log.getLease("lease_none")))
      assert.deepStrictEqual((yield* log.liveLeases(0)).map((l) => l.lease_id), ["lease_a", "lease_b"])
      assert.deepStrictEqual((yield* log.liveLeases(500)).map((l) => l.lease_id), ["lease_a"])
    })))

  it.effect("R4.3-2 claimJob: of several takers racing for one lost job exactly one wins; an ended job is nobody's", () =>
    withLog(Effect.gen(function*() {
      const log = yield* EventLog
      yield* log.saveJob(job("job_lost", { instance_id: "rt_dead" }))
      yield* log.saveJob(job("job_done", { instance_id: "rt_dead", terminal: "{}" }))
      const wins = yield* Effect.all(
        ["rt_b", "rt_c", "rt_d", "rt_e"].map((taker) => log.claimJob("job_lost", "rt_dead", taker)),
        { concurrency: "unbounded" }
      )
      assert.strictEqual(wins.filter((w) => w).length, 1)
      const owner = Option.getOrUndefined(yield* log.getJob("job_lost"))?.instance_id
      assert.strictEqual(owner, ["rt_b", "rt_c", "rt_d", "rt_e"][wins.indexOf(true)])
      assert.isFalse(yield* log.claimJob("job_lost", "rt_dead", "rt_f"), "its owner changed")
      assert.isFalse(yield* log.claimJob("job_done", "rt_dead", "rt_b"), "it ended")
    })))

  it.effect("R4.3-1 instance leases round-trip; detachSessions frees only the attached sessions of that instance", () =>
    withLog(Effect.gen(function*() {
      const log = yield* EventLog
      const instance = { instance_id: "rt_a", host: "h", pid: 1, started_at: 1, heartbeat_at: 2 }
      yield* log.saveInstance({ ...instance, lease_until: 32 })
      yield* log.saveInstance({ ...instance, instance_id: "rt_b" })
      assert.deepStrictEqual(yield* log.instances, [{ ...instance, lease_until: 32 }, {
        ...instance,
        instance_id: "rt_b"
      }])
      const record = (session_id: string, instance_id: string, state: "attached" | "detached" | "closed") => ({
        session_id,
        principal: "alice",
        capabilities: "{}",
        lease_expires_at: 100,
        last_position: 0,
        state,
        instance_id,
        created_at: 1,
        updated_at: 1
      })
      yield* log.saveSession(record("sess_1", "rt_a", "attached"))
      yield* log.saveSession(record("sess_2", "rt_a", "closed"))
      yield* log.saveSession(record("sess_3", "rt_b", "attached"))
      assert.strictEqual(yield* log.detachSessions("rt_a", 5000, 50), 1)
      const freed = Option.getOrUndefined(yield* log.getSession("sess_1"))
      assert.deepStrictEqual([freed?.state, freed?.resume_until, freed?.updated_at], ["detached", 5000, 50])
      assert.strictEqual(Option.getOrUndefined(yield* log.getSession("sess_2"))?.state, "closed")
      assert.strictEqual(Option.getOrUndefined(yield* log.getSession("sess_3"))?.state, "attached")
      assert.strictEqual(yield* log.detachSessions("rt_a", 6000, 60), 0, "done once")
    })))

  it.effect("R9-3 R19-1 durable sessions round-trip, update in place, and keep absent fields absent", () =>
    withLog(Effect.gen(function*() {
      const log = yield* EventLog
      assert.isTrue(Option.isNone(yield* log.getSession("sess_d")))
      yield* log.saveSession(session("sess_d"))
      assert.deepStrictEqual(yield* log.getSession("sess_d"), Option.some(session("sess_d")))
      const detached = session("sess_d", {
        state: "detached",
        resume_until: 9000,
        last_position: 42,
        trust_level: "constrained",
        updated_at: 2
      })
      yield* log.saveSession(detached)
      assert.deepStrictEqual(yield* log.getSession("sess_d"), Option.some(detached))
    })))

  it.effect("R4.3-2 instances are listed oldest first; a save replaces an instance's record", () =>
    withLog(Effect.gen(function*() {
      const log = yield* EventLog
      yield* log.saveInstance(instance("inst_b", { started_at: 5 }))
      yield* log.saveInstance(instance("inst_a", { started_at: 2 }))
      yield* log.saveInstance(instance("inst_b", { started_at: 5, heartbeat_at: 7, stopped_at: 8 }))
      assert.deepStrictEqual(yield* log.instances, [
        instance("inst_a", { started_at: 2 }),
        instance("inst_b", { started_at: 5, heartbeat_at: 7, stopped_at: 8 })
      ])
    })))

  it.effect("R4.3-3 claimJob takes an unfinished job from its previous owner only; of two racing takers one wins", () =>
    withLog(Effect.gen(function*() {
      const log = yield* EventLog
      yield* log.saveJob(job("job_lost", { state: "running", instance_id: "inst_dead" }))
      yield* log.saveJob(job("job_free", { state: "running" }))
      yield* log.saveJob(job("job_ended", { state: "completed", terminal: "{}", instance_id: "inst_dead" }))
      assert.isFalse(yield* log.claimJob("job_lost", "inst_other", "inst_b"), "not its owner")
      assert.isFalse(yield* log.claimJob("job_ended", "inst_dead", "inst_b"), "ended jobs stay where they are")
      assert.isFalse(yield* log.claimJob("job_none", undefined, "inst_b"))
      assert.isTrue(yield* log.claimJob("job_free", undefined, "inst_b"), "a job with no owner")
      const race = yield* Effect.all(
        [log.claimJob("job_lost", "inst_dead", "inst_b"), log.claimJob("job_lost", "inst_dead", "inst_c")],
        { concurrency: "unbounded" }
      )
      assert.deepStrictEqual(race.filter((won) => won).length, 1, "exactly one taker wins")
      const owner = Option.getOrUndefined(yield* log.getJob("job_lost"))?.instance_id
      assert.strictEqual(owner, race[0] === true ? "inst_b" : "inst_c")
    })))

  it.effect("R19-1 positionOf finds a message in its session; lastPosition is the session's last event", () =>
    withLog(Effect.gen(function*() {
      const log = yield* EventLog
      assert.strictEqual(yield* log.lastPosition("sess_1"), 0)
      yield* log.recordInbound("alice", [envelope("q1", { type: "session.open" })])
      const [p2] = yield* log.recordOutbound([envelope("q2")])
      const [other] = yield* log.recordOutbound([envelope("q3", { session_id: "sess_2" })])
      const found = yield* log.positionOf("sess_1", "q2")
      assert.deepStrictEqual(
        Option.map(found, (e) => [e.id, e.position, e.direction, e.principal]),
        Option.some(["q2", p2 ?? 0, "out", "alice"])
      )
      assert.isTrue(Option.isNone(yield* log.positionOf("sess_1", "q3")), "q3 is another session's")
      assert.strictEqual(yield* log.lastPosition("sess_1"), p2)
      assert.strictEqual(yield* log.lastPosition("sess_2"), other)
      assert.strictEqual(yield* log.head, other)
    })))

  it.effect("R8.1-1 R9-3 recordGroup commits a handshake at once: transcript, session record and answer, in order", () =>
    withLog(Effect.gen(function*() {
      const log = yield* EventLog
      const recorded = yield* log.recordGroup([
        {
          _tag: "Inbound",
          principal: "alice",
          envelopes: [envelope("open", { session_id: "sess_g", type: "session.open" })]
        },
        {
          _tag: "Outbound",
          envelopes: [envelope("chal", { session_id: "sess_g", type: "session.challenge", correlation_id: "open" })]
        },
        {
          _tag: "Inbound",
          principal: "alice",
          envelopes: [envelope("auth", { session_id: "sess_g", type: "session.authenticate" })]
        },
        { _tag: "SaveSession", session: session("sess_g") },
        {
          _tag: "Outbound",
          envelopes: [envelope("acc", { session_id: "sess_g", type: "session.accepted", correlation_id: "auth" })]
        }
      ])
      assert.deepStrictEqual(recorded.verdicts, [{ _tag: "New" }, { _tag: "New" }])
      const events = yield* readAll(log, { session_id: ["sess_g"] })
      assert.deepStrictEqual(
        events.map((e) => [e.id, e.direction, e.principal]),
        [["open", "in", "alice"], ["chal", "out", "alice"], ["auth", "in", "alice"], ["acc", "out", "alice"]]
      )
      assert.deepStrictEqual(recorded.positions, [events[1]?.position ?? 0, events[3]?.position ?? 0])
      assert.deepStrictEqual(yield* log.getSession("sess_g"), Option.some(session("sess_g")))
      assert.deepStrictEqual(yield* log.recordGroup([]), { verdicts: [], positions: [] })
    })))

  it.effect("R6.4-2 recordGroup keeps the inbound rules: a repeated id is a Duplicate, the first principal owns the session", () =>
    withLog(Effect.gen(function*() {
      const log = yield* EventLog
      yield* log.recordInbound("alice", [envelope("m1", { session_id: "sess_o" })])
      const recorded = yield* log.recordGroup([
        { _tag: "Inbound", principal: "alice", envelopes: [envelope("m1", { session_id: "sess_o" })] },
        { _tag: "Inbound", principal: "bob", envelopes: [envelope("m2", { session_id: "sess_o" })] },
        { _tag: "Outbound", envelopes: [envelope("o1", { session_id: "sess_o" })] }
      ])
      assert.deepStrictEqual(recorded.verdicts, [{ _tag: "Duplicate" }, { _tag: "New" }])
      assert.strictEqual(recorded.positions.length, 1)
      assert.deepStrictEqual(
        (yield* readAll(log, { session_id: ["sess_o"] })).map((e) => [e.id, e.principal]),
        [["m1", "alice"], ["m2", "alice"], ["o1", "alice"]]
      )
    })))

  it.effect("R9-3 R19-1 ReleaseSession takes the last position from the log and leaves a closed record closed", () =>
    withLog(Effect.gen(function*() {
      const log = yield* EventLog
      yield* log.saveSession(session("sess_r"))
      const [before] = yield* log.recordOutbound([envelope("r1", { session_id: "sess_r" })])
      yield* log.recordOutbound([envelope("x1", { session_id: "sess_other" })])
      const detached = session("sess_r", { state: "detached", resume_until: 9000, updated_at: 2, last_position: 999 })
      const { positions } = yield* log.recordGroup([
        { _tag: "Outbound", envelopes: [envelope("r2", { session_id: "sess_r" })] },
        { _tag: "ReleaseSession", session: detached }
      ])
      assert.isTrue((positions[0] ?? 0) > (before ?? 0))
      assert.deepStrictEqual(
        yield* log.getSession("sess_r"),
        Option.some({ ...detached, last_position: positions[0] ?? -1 }),
        "the group's own envelope counts"
      )
      // a release of a session nobody recorded writes its record, with the position it has (none: 0)
      yield* log.recordGroup([{ _tag: "ReleaseSession", session: session("sess_new", { state: "closed" }) }])
      assert.deepStrictEqual(yield* log.getSession("sess_new"), Option.some(session("sess_new", { state: "closed" })))
      // closed is for good: a late release (another connection's) does not make it resumable again
      yield* log.recordGroup([{
        _tag: "ReleaseSession",
        session: session("sess_r", { state: "closed", updated_at: 3 })
      }])
      yield* log.recordGroup([{ _tag: "ReleaseSession", session: detached }])
      const final = Option.getOrUndefined(yield* log.getSession("sess_r"))
      assert.deepStrictEqual([final?.state, final?.updated_at], ["closed", 3])
    })))

  const ids = (rows: ReadonlyArray<{ readonly id: string }>) => rows.map((r) => r.id)

  it.effect("R19-3 prune: the events up to a position go, but the log's last one and an unfinished job's; positions count on", () =>
    withLog(Effect.gen(function*() {
      const log = yield* EventLog
      yield* log.saveJob(job("job_run"))
      yield* log.saveJob(job("job_done", { state: "success", terminal: "{}" }))
      const [, , , p4, p5] = yield* log.recordOutbound([
        envelope("e1", { job_id: "job_run" }),
        envelope("e2", { job_id: "job_done" }),
        envelope("e3"),
        envelope("e4"),
        envelope("e5")
      ])
      assert.strictEqual(yield* log.prune({ through: p4 ?? 0, before: 0, now: 0, limit: 100 }), 3)
      assert.deepStrictEqual(ids(yield* readAll(log, {})), ["e1", "e5"], "the running job's event and e5 stay")
      // everything is past: the last event still stays, so the next position follows it
      assert.strictEqual(yield* log.prune({ through: p5 ?? 0, before: 0, now: 0, limit: 100 }), 0)
      assert.strictEqual(yield* log.head, p5)
      const [p6] = yield* log.recordOutbound([envelope("e6")])
      assert.strictEqual(p6, (p5 ?? 0) + 1)
      assert.deepStrictEqual(ids(yield* log.read({ after: p4 ?? 0 })), ["e5", "e6"])
      assert.deepStrictEqual(ids(yield* log.read({ job_id: ["job_run"] })), ["e1"])
    })))

  it.effect("R6.4-2 prune: at most `limit` events a call, oldest first; a pruned message id is forgotten, a kept one is not", () =>
    withLog(Effect.gen(function*() {
      const log = yield* EventLog
      yield* log.recordInbound("alice", [envelope("i1"), envelope("i2"), envelope("i3")])
      const head = yield* log.head
      assert.strictEqual(yield* log.prune({ through: head, before: 0, now: 0, limit: 1 }), 1)
      assert.deepStrictEqual(ids(yield* readAll(log, {})), ["i2", "i3"])
      assert.strictEqual(yield* log.prune({ through: head, before: 0, now: 0, limit: 1 }), 1)
      assert.strictEqual(yield* log.prune({ through: head, before: 0, now: 0, limit: 1 }), 0, "i3 is the last")
      const again = yield* log.recordInbound("alice", [envelope("i1"), envelope("i3")])
      assert.deepStrictEqual(again.map((v) => v._tag), ["New", "Duplicate"])
    })))

  it.effect("R6.4-2 prune: the command that started a job still running stays, and a retransmit of it is still a duplicate", () =>
    withLog(Effect.gen(function*() {
      const log = yield* EventLog
      yield* log.recordInbound("alice", [envelope("cmd_run", { type: "tool.invoke" })])
      yield* log.recordInbound("alice", [envelope("cmd_done", { type: "tool.invoke" })])
      yield* log.saveJob(job("job_run", { command_id: "cmd_run" }))
      yield* log.saveJob(job("job_done", { command_id: "cmd_done", state: "success", terminal: "{}" }))
      yield* log.recordOutbound([envelope("last")])
      yield* log.prune({ through: yield* log.head, before: 0, now: 0, limit: 100 })
      assert.deepStrictEqual(ids(yield* readAll(log, {})), ["cmd_run", "last"])
      const again = yield* log.recordInbound("alice", [envelope("cmd_run"), envelope("cmd_done")])
      assert.deepStrictEqual(again.map((v) => v._tag), ["Duplicate", "New"])
    })))

  it.effect("R6.4-5 prune: an ended job's record goes with its last event, unless an unexpired claim still names it", () =>
    withLog(Effect.gen(function*() {
      const log = yield* EventLog
      const claim = { principal: "alice", key: "k1", job_id: "job_k", digest: "d", now: 0, expiresAt: 500 }
      assert.deepStrictEqual(yield* log.claimIdempotencyKey(claim), { _tag: "Claimed" })
      yield* log.saveJob(job("job_k", { state: "success", terminal: "{}", idempotency_key: "k1" }))
      yield* log.saveJob(job("job_plain", { state: "success", terminal: "{}" }))
      yield* log.saveJob(job("job_live"))
      yield* log.recordOutbound([
        envelope("j1", { job_id: "job_k" }),
        envelope("j2", { job_id: "job_plain" }),
        envelope("j3", { job_id: "job_live" }),
        envelope("last")
      ])
      const head = yield* log.head
      yield* log.prune({ through: head, before: 0, now: 100, limit: 100 })
      assert.isTrue(Option.isNone(yield* log.getJob("job_plain")))
      assert.isTrue(Option.isSome(yield* log.getJob("job_k")), "its claim holds until 500")
      assert.isTrue(Option.isSome(yield* log.getJob("job_live")))
      assert.deepStrictEqual(
        yield* log.claimIdempotencyKey({ ...claim, job_id: "job_other", now: 100 }),
        { _tag: "Existing", job_id: "job_k", digest: "d" }
      )
      // past the claim's horizon both go, though none of the job's events was left to prune
      yield* log.prune({ through: head, before: 0, now: 600, limit: 100 })
      assert.isTrue(Option.isNone(yield* log.getJob("job_k")))
      assert.deepStrictEqual(
        yield* log.claimIdempotencyKey({ ...claim, job_id: "job_new", now: 600, expiresAt: 900 }),
        { _tag: "Claimed" }
      )
      assert.isTrue(Option.isSome(yield* log.getJob("job_live")))
    })))

  it.effect("R9-3 prune: a closed or expired session's record and owner go with its last event; a resumable one stays", () =>
    withLog(Effect.gen(function*() {
      const log = yield* EventLog
      yield* log.saveSession(session("sess_closed", { state: "closed" }))
      yield* log.saveSession(session("sess_gone", { state: "detached", resume_until: 50 }))
      yield* log.saveSession(session("sess_wait", { state: "detached", resume_until: 500 }))
      yield* log.saveSession(session("sess_on"))
      for (const id of ["sess_closed", "sess_gone", "sess_wait", "sess_on"]) {
        yield* log.recordInbound("alice", [envelope(`in_${id}`, { session_id: id })])
      }
      yield* log.recordOutbound([envelope("last", { session_id: "sess_other" })])
      yield* log.prune({ through: yield* log.head, before: 0, now: 100, limit: 100 })
      const state = (id: string) => Effect.map(log.getSession(id), Option.map((s) => s.state))
      assert.deepStrictEqual(yield* state("sess_closed"), Option.none())
      assert.deepStrictEqual(yield* state("sess_gone"), Option.none())
      assert.deepStrictEqual(yield* state("sess_wait"), Option.some("detached"))
      assert.deepStrictEqual(yield* state("sess_on"), Option.some("attached"))
      // a kept session keeps its owner: another principal's message does not take it over
      yield* log.recordInbound("mallory", [envelope("m1", { session_id: "sess_on" })])
      assert.deepStrictEqual(
        (yield* log.read({ session_id: ["sess_on"] })).map((e) => e.principal),
        ["alice"]
      )
    })))

  it.effect("R10.6-1 prune: a closed session that an active schedule fires into keeps its owner, so its later firings stay its principal's", () =>
    withLog(Effect.gen(function*() {
      const log = yield* EventLog
      const schedules = yield* ScheduleStore
      yield* schedules.save(schedule("sch_on", "sess_s"))
      yield* schedules.save(schedule("sch_off", "sess_t", { state: "cancelled" }))
      for (const id of ["sess_s", "sess_t"]) {
        yield* log.saveSession(session(id, { state: "closed" }))
        yield* log.recordInbound("alice", [envelope(`in_${id}`, { session_id: id })])
      }
      yield* log.recordOutbound([envelope("last", { session_id: "sess_other" })])
      yield* log.prune({ through: yield* log.head, before: 0, now: 100, limit: 100 })
      // a firing into each session after the pass
      yield* log.recordOutbound([
        envelope("fire_s", { session_id: "sess_s" }),
        envelope("fire_t", { session_id: "sess_t" })
      ])
      const fired = yield* log.read({ id: ["fire_s", "fire_t"] })
      assert.deepStrictEqual(fired.map((e) => [e.id, e.principal]), [["fire_s", "alice"], ["fire_t", undefined]])
    })))

  it.effect("R15.5-1 prune: leases that expired before the cut go, live ones stay", () =>
    withLog(Effect.gen(function*() {
      const log = yield* EventLog
      yield* log.saveLease(lease("l_old", { expires_at: 100 }))
      yield* log.saveLease(lease("l_new", { expires_at: 300 }))
      yield* log.prune({ through: 0, before: 200, now: 250, limit: 100 })
      assert.isTrue(Option.isNone(yield* log.getLease("l_old")))
      assert.isTrue(Option.isSome(yield* log.getLease("l_new")))
    })))
}
