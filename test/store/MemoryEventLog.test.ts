import { describe } from "@effect/vitest"
import * as MemoryEventLog from "../../src/store/MemoryEventLog.js"
import { eventLogSuite } from "./EventLogSuite.js"

describe("MemoryEventLog", () => {
  eventLogSuite(() => MemoryEventLog.layer)
})
