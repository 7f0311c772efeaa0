import { assert, describe, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { Effect } from "effect"
import { closeSync, openSync, readSync, statSync } from "node:fs"
import { join } from "node:path"
import * as Checkpoints from "../../src/store/internal/Checkpoints.js"
import { tempDir } from "../support/TempDir.js"

const walBytes = (file: string) => {
  try {
    return statSync(`${file}-wal`).size
  } catch {
    return 0
  }
}

/** How many times the WAL has started over: its header's checkpoint sequence number. */
const walGeneration = (file: string) => {
  const fd = openSync(`${file}-wal`, "r")
  try {
    const header = Buffer.alloc(16)
    readSync(fd, header, 0, 16, 0)
    return header.readUInt32BE(12)
  } finally {
    closeSync(fd)
  }
}

describe("Checkpoints", () => {
  it.live(
    "a WAL under a steady stream of commits starts over past its bound, and every row is kept",
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDir("arcp-wal-")
        const file = join(dir, "log.db")
        const db = new Database(file)
        db.pragma("journal_mode = WAL")
        db.pragma("synchronous = NORMAL")
        db.exec("CREATE TABLE rows (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
        const insert = db.prepare("INSERT INTO rows (body) VALUES (?)")
        const body = Buffer.alloc(1500, 7)
        // a bound of 100 frames (~400 KB); the worker is asked after every 128 commits
        const checkpoints = Checkpoints.offThread(db, file, 100)
        const commits = 4000
        let largest = 0
        for (let i = 1; i <= commits; i++) {
          insert.run(body)
          checkpoints.committed()
          // short pauses only: a passive checkpoint racing these commits never catches up on its own
          if (i % 8 === 0) {
            yield* Effect.sleep(1)
            // the second half: the worker thread has long started by then
            if (i > commits / 2) largest = Math.max(largest, walBytes(file))
          }
        }
        const generation = walGeneration(file)
        checkpoints.stop()
        db.close()
        // ~8,000 frames (~32 MB) were written: without starting over the file holds them all (its generation 0);
        // the bound is loose so that a slow disk's syncs (more commits per checkpoint pass) do not fail it
        assert.isAtLeast(generation, 3, "the WAL never started over")
        assert.isBelow(largest, 12 * 1024 * 1024, `the WAL reached ${largest} bytes`)
        const reopened = new Database(file, { readonly: true })
        const count = reopened.prepare("SELECT count(*) FROM rows").pluck().get()
        reopened.close()
        assert.strictEqual(count, commits)
      }).pipe(Effect.scoped),
    30_000
  )
})
