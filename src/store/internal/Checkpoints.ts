/**
 * WAL checkpoints off the event loop. SQLite's automatic checkpoint runs inside the commit that
 * crosses its threshold, on the committing connection: with `synchronous = NORMAL` it syncs the WAL
 * and then the database file, two fsyncs that stall the whole runtime every hundred-odd commits (the
 * p99 of a lone request). Here the writer's connection never checkpoints; every `EVERY` commits it
 * asks a worker thread, on a connection of its own, for a PASSIVE checkpoint (it copies what no reader
 * needs and never blocks the writer). The worker starts on the first request, so a short-lived log
 * never pays for a thread; if it cannot start, the connection checkpoints automatically again.
 *
 * A PASSIVE checkpoint never restarts the WAL: SQLite writes from the file's start again only when a
 * write begins with every frame copied, which a worker racing a steady stream of commits never sees. So
 * under sustained load the WAL grew without bound (1.2 GB in 30 s of echoes at 64 in flight). When a
 * checkpoint reports more than `maxFrames` frames, the worker makes one more pass, and then the writer
 * copies the few frames committed since on its own connection, between two commits: the next commit
 * starts the file over, and `journal_size_limit` cuts it back. That costs the writer one short stall
 * (two syncs, ~5 ms here) per `maxFrames`.
 */
import type Database from "better-sqlite3"
import { createRequire } from "node:module"
import { Worker } from "node:worker_threads"

/** Commits between two checkpoint requests (SQLite's own default is ~1000 pages, ~100-200 of our commits). */
const EVERY = 128

/** SQLite's default threshold, restored when the worker is not available. */
const AUTOMATIC_PAGES = 1000

/** Frames (~4 KB each) the WAL may reach before the writer finishes a checkpoint itself: ~64 MB. */
export const MAX_WAL_FRAMES = 16_384

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
  let frames = 0
  try {
    frames = db.pragma("wal_checkpoint(PASSIVE)")[0].log
  } catch {}
  parentPort.postMessage(frames)
})
`

export interface Checkpoints {
  /** Called after each commit of the writer's connection. */
  readonly committed: () => void
  /** Stops the worker (the last connection to close checkpoints the rest). */
  readonly stop: () => void
}

/** Takes the checkpoints of `db` (the file `filename`) off its connection. */
export const offThread = (db: Database.Database, filename: string, maxFrames = MAX_WAL_FRAMES): Checkpoints => {
  db.pragma("wal_autocheckpoint = 0")
  // a WAL that grew past the bound (a checkpoint blocked by a long read) is cut back when it starts over
  db.pragma(`journal_size_limit = ${maxFrames * (db.pragma("page_size", { simple: true }) as number + 24)}`)
  let commits = 0
  let worker: Worker | undefined
  let running = false
  let failed = false
  // the WAL is past `maxFrames`: the worker is making a last pass before the writer finishes
  let catchingUp = false

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
      started.on("message", (frames: number) => {
        running = false
        if (frames <= maxFrames || !db.open) {
          catchingUp = false
          return
        }
        if (!catchingUp) {
          // one more pass off the thread first: the writer is then left only what comes in meanwhile
          catchingUp = true
          running = true
          started.postMessage("checkpoint")
          return
        }
        catchingUp = false
        // between two commits: the next one starts the WAL over
        try {
          db.pragma("wal_checkpoint(PASSIVE)")
        } catch {}
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
