import { assert, describe, it } from "@effect/vitest"
import { jobStates } from "../../../src/protocol/messages/Common.js"
import { canTransition, isTerminal } from "../../../src/runtime/jobs/JobState.js"

describe("job states", () => {
  it("R10.2-1 exactly the three terminal states have no way out", () => {
    assert.deepStrictEqual(jobStates.filter(isTerminal), ["completed", "failed", "cancelled"])
    for (const from of ["completed", "failed", "cancelled"] as const) {
      for (const to of jobStates) assert.isFalse(canTransition(from, to), `${from} -> ${to}`)
    }
  })

  it("allows the lifecycle of §10.2 and refuses going back", () => {
    assert.isTrue(canTransition("accepted", "running"))
    assert.isTrue(canTransition("running", "blocked"))
    assert.isTrue(canTransition("blocked", "running"))
    assert.isTrue(canTransition("running", "completed"))
    assert.isTrue(canTransition("accepted", "cancelled"))
    assert.isFalse(canTransition("running", "accepted"))
    assert.isFalse(canTransition("blocked", "queued"))
  })
})
