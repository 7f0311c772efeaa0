/**
 * bench/jsonDepth: what the `--max-json-depth` check costs each inbound frame,
 * as a ratio to the JSON.parse every frame gets anyway, on a typical ~1 KB
 * tool.invoke, a 1 MiB frame that is one long string, and a 1 MiB frame of
 * small nested objects (the worst case: all structure, no strings to skip).
 * Prints numbers; asserts only that the check answers as expected.
 */
import { performance } from "node:perf_hooks"
import { DEFAULT_MAX_JSON_DEPTH, exceedsDepth } from "../src/protocol/JsonDepth.js"

const frames: ReadonlyArray<readonly [string, string]> = [
  [
    "typical tool.invoke (~1 KB)",
    JSON.stringify({
      arcp: "1.0",
      id: "msg_01J0000000000000000000000",
      type: "tool.invoke",
      timestamp: "2026-05-09T13:00:00Z",
      session_id: "sess_01J0000000000000000000000",
      payload: { tool: "echo", arguments: { text: "lorem ipsum ".repeat(70), tags: ["a", "b"], n: { x: 1 } } }
    })
  ],
  ["1 MiB, one string", JSON.stringify({ payload: { text: "y".repeat(1 << 20) } })],
  [
    "1 MiB of small objects",
    JSON.stringify({ payload: { items: Array.from({ length: 40_000 }, (_, i) => ({ i, v: [i, { w: i }] })) } })
  ]
]

const perCall = (fn: () => unknown, budgetMs: number): number => {
  for (let i = 0; i < 20; i++) fn()
  let n = 0
  const start = performance.now()
  while (performance.now() - start < budgetMs) {
    fn()
    n++
  }
  return (performance.now() - start) / n
}

console.log(`bench/jsonDepth: the depth check (limit ${DEFAULT_MAX_JSON_DEPTH}) against JSON.parse of the same frame`)
for (const [label, text] of frames) {
  if (exceedsDepth(text, DEFAULT_MAX_JSON_DEPTH)) throw new Error(`${label}: measured too deep`)
  const scan = perCall(() => exceedsDepth(text, DEFAULT_MAX_JSON_DEPTH), 500)
  const parse = perCall(() => JSON.parse(text), 500)
  console.log(
    `  ${label.padEnd(30)} ${String(text.length).padStart(8)} B  check ${(scan * 1000).toFixed(1).padStart(9)} µs` +
      `  parse ${(parse * 1000).toFixed(1).padStart(9)} µs  ratio ${(scan / parse).toFixed(2)}`
  )
}
if (!exceedsDepth("[".repeat(5000) + "]".repeat(5000), DEFAULT_MAX_JSON_DEPTH)) throw new Error("deep frame missed")
