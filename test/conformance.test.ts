/**
 * Keeps RFC-0001-v2.md (the requirements digest) and CONFORMANCE.md honest: the same ids on both
 * sides, and every requirement marked done or partial named by a test title that exists.
 */
import { assert, describe, it } from "@effect/vitest"
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs"
import { join, resolve } from "node:path"

const root = resolve(import.meta.dirname, "..")
const read = (path: string) => readFileSync(join(root, path), "utf8")
const keywords = ["MUST NOT", "MUST", "SHOULD NOT", "SHOULD", "MAY"] as const

const digest = [...read("RFC-0001-v2.md").matchAll(/^- \*\*(R[0-9.]+-[0-9]+)\*\* \((MUST NOT|MUST|SHOULD NOT|SHOULD|MAY)\) (.+)$/gm)]
  .map(([, id = "", keyword = ""]) => ({ id, keyword }))

const rows = [...read("CONFORMANCE.md").matchAll(/^\| (R[0-9.]+-[0-9]+) \| ([A-Z ]+?) \| ([a-z ]+?) \| (.*) \|$/gm)]
  .map(([, id = "", keyword = "", status = "", tests = ""]) => ({ id, keyword, status, tests }))

const testFiles = (dir: string): Array<string> =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? testFiles(path) : name.endsWith(".ts") ? [path] : []
  })

/** Every string literal opening an it/test/describe call, in every test file but this one. */
const titles = testFiles(join(root, "test"))
  .filter((file) => !file.endsWith("conformance.test.ts"))
  .flatMap((file) =>
    [...readFileSync(file, "utf8").matchAll(/\b(?:it|test|describe)(?:\.\w+)*\(\s*(["'`])((?:\\.|(?!\1).)*)\1/g)].map((m) => m[2] ?? "")
  )

/** True when `title` names `id` as a whole token (R10.4-1 does not match inside R10.4-12). */
const names = (title: string, id: string) => new RegExp(`(^|[^\\w.-])${id.replace(/\./g, "\\.")}(?![\\d.])`).test(title)

describe("conformance bookkeeping", () => {
  it("the digest has unique ids and at least one requirement per bolded keyword of the RFC", () => {
    const ids = digest.map((r) => r.id)
    assert.strictEqual(new Set(ids).size, ids.length, "duplicate requirement ids")
    assert.isAtLeast(digest.length, 138)
    const rfc = resolve(root, "..", "shared", "spec", "RFC-0001-v2.md")
    if (!existsSync(rfc)) return // the RFC lives beside the repo; without it only the digest is checked
    const text = readFileSync(rfc, "utf8")
    for (const keyword of keywords) {
      const inRfc = [...text.matchAll(/\*\*(MUST NOT|MUST|SHOULD NOT|SHOULD|MAY)\*\*/g)].filter((m) => m[1] === keyword).length
      const inDigest = digest.filter((r) => r.keyword === keyword).length
      assert.isAtLeast(inDigest, inRfc, `${keyword}: the RFC has ${inRfc}, the digest ${inDigest}`)
    }
  })

  it("CONFORMANCE.md lists exactly the digest's requirements, with their keywords and a known status", () => {
    const byId = new Map(digest.map((r) => [r.id, r.keyword]))
    const listed = new Set(rows.map((r) => r.id))
    const missing = digest.filter((r) => !listed.has(r.id)).map((r) => r.id)
    const extra = rows.filter((r) => !byId.has(r.id)).map((r) => r.id)
    assert.deepStrictEqual({ missing, extra }, { missing: [], extra: [] })
    assert.strictEqual(rows.length, digest.length, "a requirement is listed twice")
    for (const row of rows) {
      assert.include(["done", "partial", "not yet"], row.status, `${row.id} has status "${row.status}"`)
      assert.strictEqual(row.keyword, byId.get(row.id), `${row.id} keyword`)
    }
  })

  it("every requirement marked done or partial is named by a test title", () => {
    const unproven = rows.filter((r) => r.status !== "not yet" && !titles.some((t) => names(t, r.id))).map((r) => r.id)
    assert.deepStrictEqual(unproven, [], "done/partial without a test naming it")
  })

  it("the tests CONFORMANCE.md cites exist", () => {
    const cited = rows.flatMap((r) => [...r.tests.matchAll(/`([^`]+)`/g)].map((m) => ({ id: r.id, title: m[1] ?? "" })))
    const absent = cited.filter((c) => !titles.includes(c.title)).map((c) => `${c.id}: ${c.title}`)
    assert.deepStrictEqual(absent, [])
  })

  it("the id matcher does not confuse R10.4-1 with R10.4-12", () => {
    assert.isTrue(names("R10.4-1 cancel", "R10.4-1"))
    assert.isFalse(names("R10.4-12 cancel", "R10.4-1"))
    assert.isTrue(names("R6.4-2 R10.4-1: both", "R10.4-1"))
  })
})
