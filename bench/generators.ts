/**
 * bench/generators: what a generator function made per call costs (issue 12). The same small Effect, run
 * 100 at a time for 3 s, written two ways: `Effect.gen(function*() {...})` inside the function called per
 * operation (a new generator function each call: V8 makes it a prototype and an initial map, in the old
 * generation, which keeps the call's objects alive until the next full GC), and `Effect.fnUntraced` (one
 * generator function, made once). Each runs in its own process with `--trace-gc-nvp`; prints operations per
 * second, the bytes the young generation promoted per operation, and the ratios.
 */
import { spawnSync } from "node:child_process"

const SECONDS = Number(process.env["BENCH_SECONDS"] ?? 3)

const script = `
import { Effect } from "effect"
const inline = (payload) => Effect.gen(function*() { const a = yield* Effect.succeed(payload); return a.items.length })
const once = Effect.fnUntraced(function*(payload) { const a = yield* Effect.succeed(payload); return a.items.length })
const run = process.argv[1] === "inline" ? inline : once
let n = 0
const until = Date.now() + ${SECONDS * 1000}
while (Date.now() < until) {
  for (let i = 0; i < 100; i++) {
    Effect.runSync(run({ items: Array.from({ length: 100 }, (_, j) => ({ j })) }))
    n++
  }
  await new Promise((resolve) => setImmediate(resolve))
}
console.log(JSON.stringify({ ops: n }))
`

const measure = (mode: "inline" | "once") => {
  const { status, stdout } = spawnSync(
    process.execPath,
    ["--trace-gc-nvp", "--input-type=module", "-e", script, mode],
    { encoding: "utf8", maxBuffer: 1 << 26 }
  )
  if (status !== 0) throw new Error(`the ${mode} run exited with ${status}`)
  const lines = stdout.trim().split("\n")
  const { ops } = JSON.parse(lines.at(-1) ?? "{}") as { ops: number }
  let promoted = 0
  for (const line of lines) {
    if (!line.includes("gc=s ")) continue
    promoted += Number(/ promoted=(\d+)/.exec(line)?.[1] ?? 0)
  }
  return { opsPerSecond: ops / SECONDS, promotedPerOp: promoted / ops }
}

const inline = measure("inline")
const once = measure("once")
console.log("bench/generators: a generator function per call against one made once (Effect.fnUntraced)")
console.log(
  `  Effect.gen inside the call: ${inline.opsPerSecond.toFixed(0)} ops/s, ${
    inline.promotedPerOp.toFixed(0)
  } B promoted per op`
)
console.log(
  `  Effect.fnUntraced:          ${once.opsPerSecond.toFixed(0)} ops/s, ${
    once.promotedPerOp.toFixed(0)
  } B promoted per op`
)
console.log(
  `  fnUntraced / gen: ${(once.opsPerSecond / inline.opsPerSecond).toFixed(2)}x the operations, ${
    (once.promotedPerOp / inline.promotedPerOp).toFixed(3)
  }x the promoted bytes`
)
