/**
 * A throwaway PostgreSQL for tests: `ARCP_TEST_PG_URL` when set, otherwise a cluster of its own
 * (initdb + pg_ctl from the PostgreSQL 15 binaries, in a temporary directory, on a free port; as the
 * `postgres` OS user when the tests run as root), stopped when the test file is done. Each call of
 * `freshDatabase` creates an empty database on it, so every test starts from nothing. When neither is
 * available, `pgUnavailable` says why and the PostgreSQL suites skip, saying so.
 */
import { afterAll, beforeAll } from "@effect/vitest"
import { Effect } from "effect"
import { execFileSync } from "node:child_process"
import { chmodSync, chownSync, existsSync } from "node:fs"
import { createServer } from "node:net"
import { join } from "node:path"
import pg from "pg"
import { makeTempDir } from "../TempDir.js"

export const PG_BIN = process.env["ARCP_TEST_PG_BIN"] ?? "/usr/lib/postgresql/15/bin"
const externalUrl = process.env["ARCP_TEST_PG_URL"]

const isRoot = typeof process.getuid === "function" && process.getuid() === 0
const postgresUser = (): { uid: number; gid: number } | undefined => {
  try {
    const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim())
    const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim())
    return { uid, gid }
  } catch {
    return undefined
  }
}

/** Why the PostgreSQL suites cannot run here (undefined: they can). */
export const pgUnavailable: string | undefined = externalUrl !== undefined
  ? undefined
  : !existsSync(join(PG_BIN, "initdb")) || !existsSync(join(PG_BIN, "pg_ctl"))
  ? `no PostgreSQL: neither ARCP_TEST_PG_URL nor ${PG_BIN}/initdb (install the Debian postgresql package)`
  : isRoot && postgresUser() === undefined
  ? "no PostgreSQL: running as root and there is no `postgres` OS user to run initdb as"
  : undefined

if (pgUnavailable !== undefined) console.warn(`PostgreSQL suites skipped: ${pgUnavailable}`)

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

export interface Cluster {
  /** The URL of the maintenance database (`postgres`). */
  readonly url: string
  /** A new, empty database on the cluster: its URL. */
  readonly freshDatabase: () => Promise<string>
  readonly stop: () => Promise<void>
}

/** Runs a PostgreSQL binary, as the `postgres` user when running as root. */
const runPg = (binary: string, args: ReadonlyArray<string>) => {
  const user = isRoot ? postgresUser() : undefined
  execFileSync(join(PG_BIN, binary), args, {
    stdio: ["ignore", "pipe", "pipe"],
    ...(user !== undefined ? { uid: user.uid, gid: user.gid } : {}),
    env: { ...process.env, LC_ALL: "C" }
  })
}

let counter = 0

const withUrl = (url: string, database: string) => {
  const u = new URL(url)
  u.pathname = `/${database}`
  return u.toString()
}

const clusterOn = (url: string, stop: () => Promise<void>): Cluster => ({
  url,
  freshDatabase: async () => {
    const name = `arcp_t${process.pid}_${++counter}_${Math.floor(Math.random() * 1e6)}`
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    try {
      await client.query(`CREATE DATABASE ${name}`)
    } finally {
      await client.end()
    }
    return withUrl(url, name)
  },
  stop
})

/** Starts a cluster (or uses ARCP_TEST_PG_URL); call `stop` when done (afterAll). */
export const startCluster = async (): Promise<Cluster> => {
  if (externalUrl !== undefined) return clusterOn(externalUrl, async () => {})
  const { dir, remove } = makeTempDir("arcp-pg-")
  const user = isRoot ? postgresUser() : undefined
  if (user !== undefined) chownSync(dir, user.uid, user.gid)
  chmodSync(dir, 0o700)
  const data = join(dir, "data")
  const port = await freePort()
  // trust on loopback only; fsync off: a test cluster need not survive a power cut, and start-up gets cheap
  runPg("initdb", ["-D", data, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"])
  runPg("pg_ctl", [
    "-D",
    data,
    "-w",
    "-l",
    join(dir, "log"),
    "-o",
    `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200`,
    "start"
  ])
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`
  return clusterOn(url, async () => {
    try {
      runPg("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"])
    } finally {
      remove()
    }
  })
}

/**
 * One cluster for the enclosing `describe` (started before its tests, stopped after them);
 * `database` gives each test an empty database of its own.
 */
export const usePgCluster = () => {
  let cluster: Cluster | undefined
  beforeAll(async () => {
    cluster = await startCluster()
  }, 60_000)
  afterAll(() => cluster?.stop())
  const get = () => {
    if (cluster === undefined) throw new Error("the PostgreSQL cluster did not start")
    return cluster
  }
  return {
    cluster: get,
    database: Effect.promise(() => get().freshDatabase())
  }
}
