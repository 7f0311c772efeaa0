/**
 * A vitest reporter that ends the run with one plain line, `Tests: N passed, N failed, N skipped`,
 * which any CI log reader understands (vitest's own summary is decorated and split over columns).
 */
import type { Reporter, RunnerTask, RunnerTestFile } from "vitest"

const count = (tasks: ReadonlyArray<RunnerTask>, totals: { passed: number; failed: number; skipped: number }) => {
  for (const task of tasks) {
    if (task.type === "suite") count(task.tasks, totals)
    else if (task.mode === "skip" || task.mode === "todo") totals.skipped += 1
    else if (task.result?.state === "pass") totals.passed += 1
    else if (task.result?.state === "fail") totals.failed += 1
    else totals.skipped += 1
  }
}

export default class PlainSummary implements Reporter {
  onFinished(files: ReadonlyArray<RunnerTestFile> = [], errors: ReadonlyArray<unknown> = []) {
    const totals = { passed: 0, failed: 0, skipped: 0 }
    count(files, totals)
    // an error outside any test (a file that fails to load) is a failure too
    const failed = totals.failed + errors.length +
      files.filter((file) => file.result?.state === "fail" && file.tasks.length === 0).length
    process.stdout.write(`\nTests: ${totals.passed} passed, ${failed} failed, ${totals.skipped} skipped\n`)
  }
}
