/**
 * Keeps RFC-0001-v2.md (the requirements digest) and CONFORMANCE.md honest: the same ids on both
 * sides, and every requirement marked done or partial named by a test title that exists.
 */
import { assert, describe, it } from "@effect/vitest"
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs"
import { join, resolve } from "node:path"

const root = resolve(import.meta.dirname, "..")
const read = (path: string) => readFileSync(join(root, path), "utf8")

/** Each requirement of the digest with its keyword, the section its id names and the `## §` heading it sits under. */
const digest = (() => {
  const out: Array<{ id: string; keyword: string; section: string; heading: string }> = []
  let heading = ""
  for (const line of read("RFC-0001-v2.md").split("\n")) {
    const h = /^## §([0-9.]+) /.exec(line)
    if (h !== null) heading = h[1] ?? ""
    const r = /^- \*\*(R([0-9.]+)-[0-9]+)\*\* \((MUST NOT|MUST|SHOULD NOT|SHOULD|MAY)\) (.+)$/.exec(line)
    if (r !== null) out.push({ id: r[1] ?? "", section: r[2] ?? "", keyword: r[3] ?? "", heading })
  }
  return out
})()

/**
 * The RFC itself (the authority) sits beside the clone in ../shared on the development machines only (or where $ARCP_RFC points): the
 * checks against it run when it is there and are skipped, with the reason, on a bare clone.
 */
const rfcPath = process.env["ARCP_RFC"] ?? resolve(root, "..", "shared", "spec", "RFC-0001-v2.md")
const hasRfc = existsSync(rfcPath)
if (!hasRfc) {
  console.warn(`skipping the checks against the RFC: ${rfcPath} is absent (it sits beside the clone on our machines)`)
}

/** The bolded keywords of the RFC, counted per "section keyword" (the deepest numbered heading above them). */
const rfcKeywords = (text: string): Map<string, number> => {
  const counts = new Map<string, number>()
  let section = ""
  for (const line of text.split("\n")) {
    const h = /^#{2,4} ([0-9]+(?:\.[0-9]+)*)\.? /.exec(line)
    if (h !== null) {
      section = h[1] ?? ""
      continue
    }
    for (const m of line.matchAll(/\*\*(MUST NOT|MUST|SHOULD NOT|SHOULD|MAY)\*\*/g)) {
      const key = `${section} ${m[1] ?? ""}`
      counts.set(key, (counts.get(key) ?? 0) + 1)
    }
  }
  return counts
}

const rows = [...read("CONFORMANCE.md").matchAll(/^\| (R[0-9.]+-[0-9]+) \| ([A-Z ]+?) \| ([a-z ]+?) \| (.*) \|$/gm)]
  .map(([, id = "", keyword = "", status = "", tests = ""]) => ({ id, keyword, status, tests }))

const testFiles = (dir: string): Array<string> =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? testFiles(path) : name.endsWith(".ts") ? [path] : []
  })

/** A title: the string literal opening an it/test/describe call, also a modified one (`it.effect(`, `it.skipIf(cond)(`). */
const titlePattern = /\b(?:it|test|describe)(?:\.\w+(?:\([^()]*\))?)*\(\s*(["'`])((?:\\.|(?!\1).)*)\1/g

/** Every string literal opening an it/test/describe call, in every test file but this one. */
const titles = testFiles(join(root, "test"))
  .filter((file) => !file.endsWith("conformance.test.ts"))
  .flatMap((file) =>
    [...readFileSync(file, "utf8").matchAll(titlePattern)].map((
      m
    ) => m[2] ?? "")
  )

/** True when `title` names `id` as a whole token (R10.4-1 does not match inside R10.4-12). */
const names = (title: string, id: string) => new RegExp(`(^|[^\\w.-])${id.replace(/\./g, "\\.")}(?![\\d.])`).test(title)

describe("conformance bookkeeping", () => {
  it("the digest has unique ids, each under the heading of its own section", () => {
    const ids = digest.map((r) => r.id)
    assert.strictEqual(new Set(ids).size, ids.length, "duplicate requirement ids")
    assert.isAtLeast(digest.length, 138)
    assert.deepStrictEqual(digest.filter((r) => r.section !== r.heading).map((r) => `${r.id} under §${r.heading}`), [])
  })

  it.skipIf(!hasRfc)(
    "every RFC section has at least one requirement per bolded keyword, keyword by keyword (skipped without ../shared/spec/RFC-0001-v2.md)",
    () => {
      const inRfc = rfcKeywords(readFileSync(rfcPath, "utf8"))
      assert.isAtLeast(inRfc.size, 50, "the RFC's keywords were not found")
      const inDigest = new Map<string, number>()
      for (const r of digest) {
        inDigest.set(`${r.section} ${r.keyword}`, (inDigest.get(`${r.section} ${r.keyword}`) ?? 0) + 1)
      }
      const short = [...inRfc].filter(([key, n]) => (inDigest.get(key) ?? 0) < n)
        .map(([key, n]) => `§${key}: the RFC has ${n}, the digest ${inDigest.get(key) ?? 0}`)
      assert.deepStrictEqual(short, [])
      // and no requirement claims a section or keyword the RFC does not have there
      const phantom = [...inDigest.keys()].filter((key) => !inRfc.has(key))
      assert.deepStrictEqual(phantom, [], "digest sections/keywords with no bolded keyword in the RFC")
    }
  )

  it.skipIf(!hasRfc)(
    "the digest's Counts table gives the RFC's and the digest's true counts per keyword (skipped without ../shared/spec/RFC-0001-v2.md)",
    () => {
      const inRfc = rfcKeywords(readFileSync(rfcPath, "utf8"))
      const table = [
        ...read("RFC-0001-v2.md").matchAll(
          /^\| (MUST NOT|MUST|SHOULD NOT|SHOULD|MAY|total) \| ([0-9]+) \| ([0-9]+) \|$/gm
        )
      ]
      assert.isAtLeast(table.length, 5)
      for (const [, keyword = "", rfc = "", here = ""] of table) {
        const rfcCount = [...inRfc].filter(([key]) => keyword === "total" || key.endsWith(` ${keyword}`)).reduce(
          (a, [, n]) => a + n,
          0
        )
        const digestCount = digest.filter((r) => keyword === "total" || r.keyword === keyword).length
        assert.deepStrictEqual([Number(rfc), Number(here)], [rfcCount, digestCount], keyword)
      }
    }
  )

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
