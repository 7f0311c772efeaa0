/**
 * WAL checkpoints off the event loop. SQLite's automatic checkpoint runs inside the commit that
 * crosses its threshold, on the committing connection: with `synchronous = NORMAL` it syncs the WAL
 * and then the database file, two fsyncs that stall the whole runtime every hundred-odd commits (the
 * p99 of a lone request). Here the writer's connection never checkpoints; every `EVERY` commits it
 * asks a worker thread, on a connection of its own, for a PASSIVE checkpoint (it copies what no reader
 * needs and never blocks the writer). The worker starts on the first request, so a short-lived log
 * never pays for a thread; if it cannot start, the connection checkpoints automatically again.
 */
import type Database from "better-sqlite3"
import { createRequire } from "node:module"
import { Worker } from "node:worker_threads"

/** Commits between two checkpoint requests (SQLite's own default is ~1000 pages, ~100-200 of our commits). */
const EVERY = 128

/** SQLite's default threshold, restored when the worker is not available. */
const AUTOMATIC_PAGES = 1000

// CommonJS source of the worker: one connection, a PASSIVE checkpoint per request, closed on "stop"
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads")
const Database = require(workerData.driver)
const db = new Database(workerData.filename, { fileMustExist: true })
db.pragma("busy_timeout = 5000")
parentPort.on("message", (message) => {
  if (message === "stop") {
    db.close()
    parentPort.close()
    return
  }
  try {
    db.pragma("wal_checkpoint(PASSIVE)")
  } catch {}
  parentPort.postMessage("done")
})
`

export interface Checkpoints {
  /** Called after each commit of the writer's connection. */
  readonly committed: () => void
  /** Stops the worker (the last connection to close checkpoints the rest). */
  readonly stop: () => void
}

/** Takes the checkpoints of `db` (the file `filename`) off its connection. */
export const offThread = (db: Database.Database, filename: string): Checkpoints => {
  db.pragma("wal_autocheckpoint = 0")
  let commits = 0
  let worker: Worker | undefined
  let running = false
  let failed = false

  const fallBack = () => {
    failed = true
    worker = undefined
    if (db.open) db.pragma(`wal_autocheckpoint = ${AUTOMATIC_PAGES}`)
  }
  const start = (): Worker | undefined => {
    try {
      const driver = createRequire(import.meta.url).resolve("better-sqlite3")
      const started = new Worker(WORKER_SOURCE, { eval: true, workerData: { driver, filename } })
      // a checkpointer never keeps the process alive
      started.unref()
      started.on("message", () => {
        running = false
      })
      started.on("error", fallBack)
      // a worker gone for any reason but our stop would leave the WAL growing with nobody to checkpoint it
      started.on("exit", () => {
        if (worker === started) fallBack()
      })
      return started
    } catch {
      fallBack()
      return undefined
    }
  }

  return {
    committed: () => {
      commits += 1
      if (commits < EVERY || running || failed) return
      commits = 0
      worker ??= start()
      if (worker === undefined) return
      running = true
      worker.postMessage("checkpoint")
    },
    stop: () => {
      worker?.postMessage("stop")
      worker = undefined
    }
  }
}
