/**
 * `arcp serve`'s failures in one sentence each: the flag values checked before anything starts, and the
 * start-up failures (a taken port, an unusable --db) translated from the errors underneath.
 */
import { Options } from "@effect/cli"
import * as FileSystem from "@effect/platform/FileSystem"
import { type Cause, Effect, Option } from "effect"
import { dirname } from "node:path"
import { EventLogError } from "../../store/EventLog.js"
import { displayUrl, isPostgresUrl } from "../../store/postgres/Url.js"
import { CliError, codeOf, errorsOf, rootMessage, usage } from "../Failure.js"

/** A port option: an integer from 0 to 65535 (0 picks a free port), checked when the command line is read. */
export const validPort = (option: Options.Options<number>, flag: string): Options.Options<number> =>
  option.pipe(Options.filterMap(
    (port) => Number.isInteger(port) && port >= 0 && port <= 65_535 ? Option.some(port) : Option.none(),
    `${flag} must be a port number from 0 to 65535 (0 picks a free one)`
  ))

/** Checks `--db` before opening it: its folder must exist and it must not be a folder itself. */
export const checkDb = Effect.fnUntraced(function*(db: string) {
  if (db === ":memory:") return
  const fs = yield* FileSystem.FileSystem
  const info = yield* fs.stat(db).pipe(Effect.option)
  if (Option.isSome(info) && info.value.type === "Directory") {
    return yield* usage(`--db ${db} is a directory: give the path of a database file (or :memory:)`)
  }
  const folder = yield* fs.stat(dirname(db)).pipe(Effect.option)
  if (Option.isNone(folder) || folder.value.type !== "Directory") {
    return yield* usage(`--db ${db}: the folder ${dirname(db)} does not exist; create it or choose another path`)
  }
})

/** Where `arcp serve` keeps its store: a PostgreSQL `url`, or the SQLite file `db`; `label` shows it (no password). */
export interface Store {
  readonly db: string
  readonly url?: string | undefined
  readonly label: string
}

/** `--store` (a PostgreSQL URL, or an SQLite file standing for --db) else `--db`, checked. */
export const resolveStore = Effect.fnUntraced(function*(
  o: { readonly db: string; readonly store: Option.Option<string> }
) {
  const given = Option.getOrUndefined(o.store)
  if (given !== undefined && isPostgresUrl(given)) {
    if (!URL.canParse(given)) {
      return yield* usage(
        `--store ${displayUrl(given)} is not a valid URL: write postgres://USER:PASSWORD@HOST:PORT/DB`
      )
    }
    return { db: o.db, url: given, label: displayUrl(given) }
  }
  const db = given ?? o.db
  yield* checkDb(db)
  return { db, label: db }
})

/** A start-up failure of `arcp serve` as a sentence, when it is one we know; otherwise the cause goes on unchanged. */
export const explainStartFailure = (
  cause: Cause.Cause<unknown>,
  o: { readonly host: string; readonly port: number; readonly db: string; readonly url?: string | undefined }
): CliError | undefined => {
  const errors = errorsOf(cause)
  if (o.url !== undefined) {
    const opening = errors.find((e) => e instanceof EventLogError && e.reason === "Open")
    if (opening !== undefined) {
      return new CliError({
        message: `cannot use the PostgreSQL store ${displayUrl(o.url)} (${
          rootMessage(opening)
        }): check the URL, that the server is running and that the database exists`
      })
    }
  }
  const errno = errors.map((e) => codeOf(e)).find((c) => c !== undefined)
  const sqlite = errors.map((e) => codeOf(e, /^SQLITE_/)).find((c) => c !== undefined)
  switch (errno) {
    case "EADDRINUSE":
      return new CliError({
        message:
          `port ${o.port} on ${o.host} is already in use: stop what holds it, or choose another with --port (0 picks a free one)`
      })
    case "EACCES":
      return new CliError({ message: `not allowed to listen on ${o.host}:${o.port}: choose a port above 1023` })
    case "EADDRNOTAVAIL":
    case "ENOTFOUND":
      return new CliError({ message: `cannot listen on ${o.host}: that address is not this machine's (--host)` })
  }
  if (sqlite === "SQLITE_NOTADB" || sqlite === "SQLITE_CORRUPT") {
    return new CliError({
      message: `--db ${o.db} is not an SQLite database: choose a new file, or the event log of an earlier arcp serve`
    })
  }
  if (sqlite === "SQLITE_CANTOPEN" || sqlite === "SQLITE_READONLY" || sqlite === "SQLITE_PERM") {
    return new CliError({
      message: `--db ${o.db} cannot be opened for writing: check its permissions, or choose another path`
    })
  }
  return undefined
}
