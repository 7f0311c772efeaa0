import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    // dist/ built from the current sources: spawned servers run the real `arcp` command
    globalSetup: ["./test/support/BuildOnce.ts"],
    // the default reporter, then one plain closing line for CI logs
    reporters: ["default", "./test/support/PlainSummary.ts"]
  }
})
