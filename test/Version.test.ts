/** The version the runtime, the client and `arcp version` report is the package's. */
import { assert, describe, it } from "@effect/vitest"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { VERSION } from "../src/Version.js"

describe("VERSION", () => {
  it("equals package.json's version", () => {
    const pkg: { version: string } = JSON.parse(readFileSync(join(import.meta.dirname, "..", "package.json"), "utf8"))
    assert.strictEqual(VERSION, pkg.version)
  })
})
