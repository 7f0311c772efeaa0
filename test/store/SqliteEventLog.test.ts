import { assert, describe, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { Context, Effect, Layer, Option, Schema } from "effect"
import { statSync } from "node:fs"
import { join } from "node:path"
import { EventLog, type EventLogError, readAll } from "../../src/store/EventLog.js"
import * as SqliteEventLog from "../../src/store/SqliteEventLog.js"
import { tempDir } from "../support/TempDir.js"
import { envelope, eventLogSuite, job } from "./EventLogSuite.js"

/** A fresh SQLite file whose folder goes with the scope. */
const tempFile = Effect.map(tempDir("arcp-log-"), (dir) => join(dir, "events.db"))

describe("SqliteEventLog", () => {
  eventLogSuite(() => Layer.unwrapScoped(Effect.map(tempFile, (filename) => SqliteEventLog.layer({ filename }))))

  it.scopedLive("the WAL is checkpointed into the database file off the event loop as commits go on", () =>
    Effect.gen(function*() {
      const file = yield* tempFile
      const log = Context.get(yield* Layer.build(SqliteEventLog.layer({ filename: file })), EventLog)
      const before = statSync(file).size
      // each commit on its own (awaited one by one), past a checkpoint request, short of SQLite's own threshold (~1000 pages)
      for (let i = 0; i < 150; i++) yield* log.recordOutbound([envelope(`w${i}`)])
      // the writer's connection never checkpoints: the file grows once the worker copied the WAL into it
      let waited = 0
      while (statSync(file).size === before && waited < 4000) {
        yield* Effect.sleep("20 millis")
        waited += 20
      }
      assert.isAbove(statSync(file).size, before)
    }))

  it.scopedLive("R6.4-2 a staged inbound message commits with its answer and stays a duplicate after a restart", () =>
    Effect.gen(function*() {
      const file = yield* tempFile
      const tags = (verdicts: ReadonlyArray<{ readonly _tag: string }>) => verdicts.map((v) => v._tag)
      yield* Effect.scoped(Effect.gen(function*() {
        const log = Context.get(yield* Layer.build(SqliteEventLog.layer({ filename: file })), EventLog)
        const stage = log.stageInbound
        if (stage === undefined) return assert.fail("the SQLite log stages inbound messages")
        assert.deepStrictEqual(tags(yield* stage("alice", [envelope("in_1"), envelope("in_1")])), ["New", "Duplicate"])
        assert.deepStrictEqual(tags(yield* stage("alice", [envelope("in_1")])), ["Duplicate"])
        yield* log.recordOutbound([envelope("out_1", { correlation_id: "in_1" })])
        // one commit holds both, the message first
        const seen = yield* readAll(log, { session_id: ["sess_1"] })
        assert.deepStrictEqual(seen.map((e) => e.id), ["in_1", "out_1"])
      }))
      // a new runtime on the file reads the verdict from what was committed
      const log = Context.get(yield* Layer.build(SqliteEventLog.layer({ filename: file })), EventLog)
      const again = yield* (log.stageInbound?.("alice", [envelope("in_1"), envelope("in_2")]) ?? Effect.succeed([]))
      assert.deepStrictEqual(tags(again), ["Duplicate", "New"])
    }))

  it.scopedLive("R4.3-2 two runtimes opening one fresh file at the same moment both wait for its migrations", () =>
    Effect.gen(function*() {
      for (let round = 0; round < 5; round++) {
        const file = yield* tempFile
        const open = Layer.build(SqliteEventLog.layer({ filename: file })).pipe(
          Effect.map((context) => Context.get(context, EventLog))
        )
        const [first, second] = yield* Effect.all([open, open], { concurrency: 2 })
        yield* first.recordInbound("alice", [envelope(`a${round}`)])
        yield* second.recordInbound("alice", [envelope(`b${round}`)])
        const seen = yield* readAll(first, { session_id: ["sess_1"] })
        assert.deepStrictEqual(seen.map((entry) => entry.id), [`a${round}`, `b${round}`], `round ${round}`)
      }
    }))

  it.scoped("R4.3-2 two runtimes on one file, each with its own connection, race to take a lost job: one wins", () =>
    Effect.gen(function*() {
      const file = yield* tempFile
      const first = Context.get(yield* Layer.build(SqliteEventLog.layer({ filename: file })), EventLog)
      const second = Context.get(yield* Layer.build(SqliteEventLog.layer({ filename: file })), EventLog)
      yield* first.saveJob(job("job_lost", { instance_id: "rt_dead" }))
      for (let round = 0; round < 20; round++) {
        const previous = round === 0 ? "rt_dead" : `rt_round_${round - 1}`
        const wins = yield* Effect.all([
          first.claimJob("job_lost", previous, `rt_round_${round}`),
          second.claimJob("job_lost", previous, `rt_round_${round}`)
        ], { concurrency: "unbounded" })
        assert.strictEqual(wins.filter((w) => w).length, 1, `round ${round}`)
      }
    }))

  it.scoped("R4.3-1 R6.4-5 everything survives closing and reopening the same file", () =>
    Effect.gen(function*() {
      const file = yield* tempFile
      yield* Effect.gen(function*() {
        const log = yield* EventLog
        yield* log.recordInbound("alice", [envelope("r1")])
        yield* log.claimIdempotencyKey({
          principal: "alice",
          key: "k",
          job_id: "job_r",
          digest: "sha256:r",
          now: 0,
          expiresAt: 10_000
        })
        yield* log.saveJob(job("job_r", { state: "completed", terminal: "{\"done\":true}" }))
      }).pipe(Effect.provide(SqliteEventLog.layer({ filename: file })))
      yield* Effect.gen(function*() {
        const log = yield* EventLog
        assert.deepStrictEqual((yield* log.recordInbound("alice", [envelope("r1")])).map((v) => v._tag), ["Duplicate"])
        assert.deepStrictEqual(
          yield* log.claimIdempotencyKey({
            principal: "alice",
            key: "k",
            job_id: "job_other",
            digest: "sha256:other",
            now: 5,
            expiresAt: 10_000
          }),
          {
            _tag: "Existing",
            job_id: "job_r",
            digest: "sha256:r"
          }
        )
        assert.strictEqual(Option.getOrUndefined(yield* log.getJob("job_r"))?.terminal, "{\"done\":true}")
        assert.strictEqual((yield* readAll(log, { session_id: ["sess_1"] })).length, 1)
      }).pipe(Effect.provide(SqliteEventLog.layer({ filename: file })))
    }))

  it.scoped("R6.4-5 migration 0002 adds digests to a log written before them: its keys replay without one, new keys store theirs", () =>
    Effect.gen(function*() {
      const file = yield* tempFile
      // the idempotency table as migration 0001 left it, with one key claimed then
      const old = new Database(file)
      old.exec(`CREATE TABLE effect_sql_migrations (migration_id integer PRIMARY KEY NOT NULL,
        created_at datetime NOT NULL DEFAULT current_timestamp, name VARCHAR(255) NOT NULL);
        INSERT INTO effect_sql_migrations (migration_id, name) VALUES (1, 'event_log');
        CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, direction TEXT NOT NULL, session_id TEXT NOT NULL,
          message_id TEXT NOT NULL, type TEXT NOT NULL, job_id TEXT, stream_id TEXT, trace_id TEXT,
          correlation_id TEXT, timestamp TEXT NOT NULL, body TEXT NOT NULL);
        CREATE TABLE inbound (principal TEXT NOT NULL, message_id TEXT NOT NULL, PRIMARY KEY (principal, message_id)) WITHOUT ROWID;
        CREATE TABLE idempotency (principal TEXT NOT NULL, key TEXT NOT NULL, job_id TEXT NOT NULL,
          expires_at INTEGER NOT NULL, PRIMARY KEY (principal, key)) WITHOUT ROWID;
        CREATE TABLE jobs (job_id TEXT PRIMARY KEY, session_id TEXT NOT NULL, principal TEXT NOT NULL,
          tool TEXT NOT NULL, command_id TEXT NOT NULL, state TEXT NOT NULL, checkpoint_id TEXT, retry_count INTEGER NOT NULL,
          cancel_reason TEXT, idempotency_key TEXT, terminal TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
        INSERT INTO idempotency VALUES ('alice', 'old', 'job_old', 10000);`)
      old.close()
      yield* Effect.gen(function*() {
        const log = yield* EventLog
        const claim = (key: string, job_id: string, digest: string) =>
          log.claimIdempotencyKey({ principal: "alice", key, job_id, digest, now: 5, expiresAt: 10_000 })
        assert.deepStrictEqual(yield* claim("old", "job_x", "sha256:x"), { _tag: "Existing", job_id: "job_old" })
        assert.deepStrictEqual(yield* claim("new", "job_new", "sha256:new"), { _tag: "Claimed" })
        assert.deepStrictEqual(yield* claim("new", "job_y", "sha256:y"), {
          _tag: "Existing",
          job_id: "job_new",
          digest: "sha256:new"
        })
      }).pipe(Effect.provide(SqliteEventLog.layer({ filename: file })))
    }))

  /**
   * A log written by migrations up to 0010 (its events table with AUTOINCREMENT and the seven indexes of then),
   * holding the rows `write` recorded, plus `extra` SQL; reopened, so that 0011 runs on it.
   */
  const migrateFrom0010 = (
    write: Effect.Effect<void, EventLogError, EventLog>,
    extra: string,
    check: Effect.Effect<void, EventLogError, EventLog>
  ) =>
    Effect.gen(function*() {
      const file = yield* tempFile
      yield* write.pipe(Effect.provide(SqliteEventLog.layer({ filename: file })))
      const old = new Database(file)
      old.exec(`CREATE TABLE events_old (seq INTEGER PRIMARY KEY AUTOINCREMENT, direction TEXT NOT NULL,
          session_id TEXT NOT NULL, message_id TEXT NOT NULL, type TEXT NOT NULL, job_id TEXT, stream_id TEXT,
          trace_id TEXT, correlation_id TEXT, timestamp TEXT NOT NULL, body TEXT NOT NULL, copy INTEGER NOT NULL DEFAULT 0);
        INSERT INTO events_old SELECT * FROM events ${extra};
        DROP TABLE events; ALTER TABLE events_old RENAME TO events; DROP INDEX jobs_unfinished;
        CREATE INDEX events_session ON events (session_id, seq);
        CREATE INDEX events_correlation ON events (correlation_id);
        CREATE INDEX events_job_seq ON events (job_id, seq) WHERE job_id IS NOT NULL;
        CREATE INDEX events_stream ON events (stream_id, seq) WHERE stream_id IS NOT NULL;
        CREATE INDEX events_trace ON events (trace_id, seq) WHERE trace_id IS NOT NULL;
        CREATE INDEX events_session_message ON events (session_id, message_id);
        CREATE INDEX events_message ON events (message_id);
        DELETE FROM effect_sql_migrations WHERE migration_id = 11;`)
      old.close()
      yield* check.pipe(Effect.provide(SqliteEventLog.layer({ filename: file })))
      const migrated = new Database(file, { readonly: true })
      const schema = migrated.prepare(
        "SELECT name, sql FROM sqlite_master WHERE tbl_name = 'events' AND sql IS NOT NULL"
      )
        .all()
      migrated.close()
      return Schema.decodeUnknownSync(Schema.Array(Schema.Struct({ name: Schema.String, sql: Schema.String })))(schema)
    })

  const written = Effect.gen(function*() {
    const log = yield* EventLog
    yield* log.recordInbound("alice", [envelope("m_in")])
    yield* log.recordOutbound([envelope("m_out", { correlation_id: "m_in", job_id: "job_1" }), envelope("m_2")])
    yield* log.saveJob(job("job_open"))
  })

  it.scoped("migration 0011 takes a log written before it: fewer indexes, the same reads, positions carrying on", () =>
    Effect.gen(function*() {
      const schema = yield* migrateFrom0010(
        written,
        "",
        Effect.gen(function*() {
          const log = yield* EventLog
          assert.strictEqual(Option.getOrUndefined(yield* log.positionOf("sess_1", "m_out"))?.id, "m_out")
          assert.deepStrictEqual((yield* readAll(log, { correlation_id: ["m_in"] })).map((e) => e.id), ["m_out"])
          const all = yield* readAll(log, { session_id: ["sess_1"] })
          assert.deepStrictEqual(all.map((e) => [e.id, e.position]), [["m_in", 1], ["m_out", 2], ["m_2", 3]])
          assert.deepStrictEqual((yield* log.unfinishedJobs).map((j) => j.job_id), ["job_open"])
          assert.deepStrictEqual(yield* log.recordOutbound([envelope("m_3", { correlation_id: "m_in" })]), [4])
          assert.deepStrictEqual((yield* readAll(log, { correlation_id: ["m_in"] })).map((e) => e.id), ["m_out", "m_3"])
        })
      )
      assert.deepStrictEqual(schema.map((s) => s.name).sort(), [
        "events",
        "events_correlation",
        "events_job_seq",
        "events_message",
        "events_session",
        "events_stream",
        "events_trace"
      ])
      // a small log is copied into a table without AUTOINCREMENT (one page fewer per commit)
      assert.notInclude(schema.find((s) => s.name === "events")?.sql ?? "", "AUTOINCREMENT")
    }))

  it.scoped("migration 0011 leaves a large log's table as it is (no copy at start-up): positions carry on", () =>
    Effect.gen(function*() {
      const schema = yield* migrateFrom0010(
        written,
        // a log past the copy's limit, as its last position says
        "; INSERT INTO events_old (seq, direction, session_id, message_id, type, timestamp, body) VALUES (500000, 'out', 'sess_1', 'm_far', 'x', 't', '{}')",
        Effect.gen(function*() {
          const log = yield* EventLog
          assert.strictEqual(Option.getOrUndefined(yield* log.positionOf("sess_1", "m_out"))?.id, "m_out")
          assert.deepStrictEqual(yield* log.recordOutbound([envelope("m_3", { correlation_id: "m_in" })]), [500001])
          assert.deepStrictEqual((yield* readAll(log, { correlation_id: ["m_in"] })).map((e) => e.id), ["m_out", "m_3"])
        })
      )
      assert.include(schema.find((s) => s.name === "events")?.sql ?? "", "AUTOINCREMENT")
      assert.notInclude(schema.map((s) => s.name), "events_session_message")
    }))
})
