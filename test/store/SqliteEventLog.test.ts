import { assert, describe, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { EventLog } from "../../src/store/EventLog.js"
import * as SqliteEventLog from "../../src/store/SqliteEventLog.js"
import { envelope, eventLogSuite, job } from "./EventLogSuite.js"

const tempFile = () => join(mkdtempSync(join(tmpdir(), "arcp-log-")), "events.db")

describe("SqliteEventLog", () => {
  eventLogSuite(() => SqliteEventLog.layer({ filename: tempFile() }))

  it.scoped("R4.3-1 R6.4-5 everything survives closing and reopening the same file", () =>
    Effect.gen(function*() {
      const file = tempFile()
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(join(file, ".."), { recursive: true, force: true })))
      yield* Effect.gen(function*() {
        const log = yield* EventLog
        yield* log.recordInbound("alice", [envelope("r1")])
        yield* log.claimIdempotencyKey({ principal: "alice", key: "k", job_id: "job_r", now: 0, expiresAt: 10_000 })
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
            now: 5,
            expiresAt: 10_000
          }),
          {
            _tag: "Existing",
            job_id: "job_r"
          }
        )
        assert.strictEqual(Option.getOrUndefined(yield* log.getJob("job_r"))?.terminal, "{\"done\":true}")
        assert.strictEqual((yield* log.replaySession("alice", "sess_1", 0)).length, 1)
      }).pipe(Effect.provide(SqliteEventLog.layer({ filename: file })))
    }))
})
