/**
 * A V8 CPU profile's self time grouped by what the code is, the same way for arcp and for the peer: SQLite's
 * native calls, socket system calls, Node's streams and `ws`, the Effect runtime, validation libraries, GC, and
 * each server's own code split into its log, its envelopes/ids/codec and the rest. Idle time and the profiler's
 * own work are kept apart.
 */
import { readFileSync } from "node:fs"

interface CallFrame {
  readonly functionName: string
  readonly url: string
}
interface CpuProfile {
  readonly nodes: ReadonlyArray<
    { readonly id: number; readonly callFrame: CallFrame; readonly children?: ReadonlyArray<number> }
  >
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

const SQLITE_NATIVE = new Set(["run", "get", "all", "iterate", "exec", "pluck", "prepare", "transaction"])
const SOCKET_CALLS = new Set(["writev", "writeBuffer", "writeUtf8String", "writeLatin1String", "shutdown"])

export const IDLE = "idle"
/** The inspector's own work (stopping the profiler, sending the profile): not the server's. */
export const PROFILER = "profiler"

/** Whether a frame is the log's code calling into SQLite (a native `run`/`get`/... is SQLite's only under it). */
const callsSqlite = (caller: CallFrame | undefined) =>
  caller !== undefined && (caller.url.includes("better-sqlite3") || /\/store\//.test(caller.url))

/** The category of one profile node, given the frame that called it. */
export const categoryOf = ({ functionName: f, url: u }: CallFrame, caller?: CallFrame): string => {
  if (f === "(idle)") return IDLE
  if (f === "(garbage collector)") return "GC"
  if (u === "" && f === "dispatch") return PROFILER
  if (f === "(program)") return "V8 (program)"
  if ((u === "" && SQLITE_NATIVE.has(f) && callsSqlite(caller)) || u.includes("better-sqlite3")) return "SQLite"
  if (u === "" && SOCKET_CALLS.has(f)) return "socket system calls"
  if (/node:internal\/(stream|net)|node:net|node:stream|node:_http|\/ws\/lib\//.test(u)) return "Node streams, http, ws"
  if (/\/node_modules\/effect\//.test(u)) return "Effect runtime, Schema"
  if (u.includes("/node_modules/zod/")) return "validation (zod)"
  if (u.startsWith("node:") || u === "") return "Node internals, builtins"
  if (u.includes("/node_modules/")) return "other libraries"
  if (/\/store\//.test(u)) return "own code: the log"
  if (/\/protocol\/|envelope|\/messages\/|\/util\/|ulid/i.test(u)) return "own code: envelopes, ids, codec"
  return "own code: runtime, transport"
}

/** Self time (µs) per category of the profile in `file`. */
export const summarize = (file: string): Map<string, number> => {
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile
  const self = new Map<number, number>()
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)))
  const callers = new Map<number, CallFrame>()
  for (const node of profile.nodes) for (const child of node.children ?? []) callers.set(child, node.callFrame)
  const by = new Map<string, number>()
  for (const node of profile.nodes) {
    const time = self.get(node.id) ?? 0
    if (time === 0) continue
    const category = categoryOf(node.callFrame, callers.get(node.id))
    by.set(category, (by.get(category) ?? 0) + time)
  }
  return by
}

/** Busy µs of a summary: neither idle nor the profiler's own. */
export const busy = (summary: Map<string, number>): number =>
  [...summary].reduce((sum, [category, time]) => (category === IDLE || category === PROFILER ? sum : sum + time), 0)
