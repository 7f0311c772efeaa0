import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    // the default reporter, then one plain closing line for CI logs
    reporters: ["default", "./test/support/PlainSummary.ts"]
  }
})
