/**
 * An Effect `Console` that writes everything to stderr, for processes whose stdout carries protocol frames
 * (a runtime served over stdio). Effect's default logger writes through the current Console, so with this
 * Console in place neither a log line nor a tool's `Console.log` can slip in between the frames.
 */
import type { Layer } from "effect"
import { Console, Effect } from "effect"
import { Console as NodeConsole } from "node:console"

/** A Node console over stderr only; the `unsafe` side of the Effect Console below. */
const unsafe = new NodeConsole({ stdout: process.stderr, stderr: process.stderr })

export const stderrConsole: Console.Console = {
  [Console.TypeId]: Console.TypeId,
  assert: (condition, ...args) => Effect.sync(() => unsafe.assert(condition, ...args)),
  clear: Effect.sync(() => unsafe.clear()),
  count: (label) => Effect.sync(() => unsafe.count(label)),
  countReset: (label) => Effect.sync(() => unsafe.countReset(label)),
  debug: (...args) => Effect.sync(() => unsafe.debug(...args)),
  dir: (item, options) => Effect.sync(() => unsafe.dir(item, options)),
  dirxml: (...args) => Effect.sync(() => unsafe.dirxml(...args)),
  error: (...args) => Effect.sync(() => unsafe.error(...args)),
  group: (options) =>
    Effect.sync(() =>
      options?.collapsed === true ? unsafe.groupCollapsed(options.label) : unsafe.group(options?.label)
    ),
  groupEnd: Effect.sync(() => unsafe.groupEnd()),
  info: (...args) => Effect.sync(() => unsafe.info(...args)),
  log: (...args) => Effect.sync(() => unsafe.log(...args)),
  table: (data, properties) => Effect.sync(() => unsafe.table(data, properties)),
  time: (label) => Effect.sync(() => unsafe.time(label)),
  timeEnd: (label) => Effect.sync(() => unsafe.timeEnd(label)),
  timeLog: (label, ...args) => Effect.sync(() => unsafe.timeLog(label, ...args)),
  trace: (...args) => Effect.sync(() => unsafe.trace(...args)),
  warn: (...args) => Effect.sync(() => unsafe.warn(...args)),
  unsafe
}

/** Routes the Effect Console, and with it the default logger, to stderr for whatever this layer is provided to. */
export const layer: Layer.Layer<never> = Console.setConsole(stderrConsole)
