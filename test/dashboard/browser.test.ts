/**
 * The observer dashboard in a real browser: `arcp serve` (the real command, a real SQLite file) serves the
 * page, playwright-core drives Debian's Chromium through it. Skipped, saying why, when no Chromium is installed.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { statSync } from "node:fs"
import { join } from "node:path"
import { type Browser, chromium, type Page } from "playwright-core"
import { ArcpError, connect } from "../../src/client/promise/Promise.js"
import { makeTempDir, type TempDir } from "../support/TempDir.js"
import { chromiumPath, noBrowserReason, screenshotDir, serve, type Served, stop } from "./support.js"

if (chromiumPath === undefined) console.warn(noBrowserReason)

const ALICE = "alice-token"
const BOB = "bob-token"
const CAROL = "carol-token"

describe.skipIf(chromiumPath === undefined)("dashboard in Chromium", () => {
  let browser: Browser
  let served: Served | undefined
  let temp: TempDir
  const shots = screenshotDir()

  const start = (ports: { readonly ws: number; readonly dashboard: number } = { ws: 0, dashboard: 0 }) =>
    serve([
      "--port",
      String(ports.ws),
      "--dashboard-port",
      String(ports.dashboard),
      "--db",
      join(temp.dir, "arcp.db"),
      "--bearer",
      `${ALICE}=alice`,
      "--bearer",
      `${BOB}=bob`,
      "--bearer",
      `${CAROL}=carol`,
      // carol is an observer principal: she may see every session (§13)
      "--observer",
      "carol"
    ])

  beforeAll(async () => {
    temp = makeTempDir("arcp-dashboard-")
    served = await start()
    browser = await chromium.launch({ executablePath: chromiumPath ?? "", args: ["--no-sandbox"] })
  }, 60_000)

  afterAll(async () => {
    await browser?.close()
    await stop(served)
    temp?.remove()
  })

  /** A page signed in with `token` through the sign-in form. */
  const signIn = async (token: string, viewport = { width: 1280, height: 800 }): Promise<Page> => {
    const page = await browser.newPage({ viewport })
    page.setDefaultTimeout(10_000)
    await page.goto(served?.dashboard ?? "")
    await page.getByTestId("signin").waitFor()
    await page.fill("input[name=token]", token)
    await page.click("button[type=submit]")
    await page.locator("[data-status=open]").waitFor()
    return page
  }

  /** A test client of principal alice, as any program would connect. */
  const aliceClient = () =>
    connect(served?.address ?? "", {
      credentials: { scheme: "bearer", token: ALICE },
      capabilities: { human_input: true }
    })

  /** Starts a tool from the page's Run view; resolves with the new job's row. */
  const run = async (page: Page, tool: string, args: object) => {
    await page.getByTestId("tab-run").click()
    await page.fill("input[name=tool]", tool)
    await page.fill("textarea[name=arguments]", JSON.stringify(args))
    await page.click("[data-testid=run] button[type=submit]")
    await page.getByTestId("job-list").waitFor()
  }

  it("signs in with a token and shows the session; a wrong token is refused with the runtime's reason", async () => {
    const page = await browser.newPage()
    await page.goto(served?.dashboard ?? "")
    await page.getByTestId("signin").waitFor()
    await page.screenshot({ path: join(shots, "sign-in.png") })
    await page.fill("input[name=token]", "not-a-token")
    await page.click("button[type=submit]")
    const refused = page.locator("[data-status=refused]")
    await refused.waitFor()
    assert.match(await refused.innerText(), /refused/)
    await page.close()

    const alice = await signIn(ALICE)
    assert.include(await alice.getByTestId("status").innerText(), "connected")
    await alice.getByTestId("tab-sessions").click()
    await alice.locator("[data-testid^=session-sess_]").first().waitFor()
    await alice.close()
  }, 30_000)

  it(
    "a ticker started by a test client: the page sees it through its subscription, progress reaching 100 %",
    async () => {
      const page = await signIn(ALICE)
      const client = await aliceClient()
      try {
        const job = await client.invoke("ticker", { count: 5, interval_ms: 100 })
        const row = page.getByTestId(`job-${job.jobId}`)
        await page.locator(`[data-testid=job-${job.jobId}][data-state=completed]`).waitFor()
        assert.strictEqual(await row.locator("[role=progressbar]").getAttribute("aria-valuenow"), "100")
        await row.click()
        assert.include(await page.getByTestId("timeline").innerText(), "job.progress")
        await page.screenshot({ path: join(shots, "jobs.png") })
      } finally {
        await client.close()
      }
      await page.close()
    },
    30_000
  )

  it("a job started from the page's Run view shows its progress too", async () => {
    const page = await signIn(ALICE)
    await run(page, "ticker", { count: 3, interval_ms: 50 })
    await page.locator("[data-testid^=job-job_][data-state=completed]").first().waitFor()
    await page.close()
  }, 30_000)

  it(
    "answers a test client's human input request with the form generated from its response_schema; the job finishes with the answer",
    async () => {
      const page = await signIn(ALICE)
      const client = await aliceClient()
      try {
        const job = await client.invoke("ask", { prompt: "Which colour?" })
        const form = page.getByTestId("human-form")
        await form.waitFor()
        assert.include(await form.innerText(), "Which colour?")
        await page.screenshot({ path: join(shots, "human-input.png") })
        // the runtime checks the answer against the schema (minLength 1): an empty one is refused, in the form
        await form.locator("[name=answer]").fill("")
        await form.locator("button[type=submit]").click()
        await form.locator(".error").waitFor()
        await form.locator("[name=answer]").fill("teal")
        await form.locator("button[type=submit]").click()
        assert.deepStrictEqual(await job.result, { answer: "teal" })
        await page.locator(`[data-testid=job-${job.jobId}][data-state=completed]`).waitFor()
        await page.getByTestId("pending").waitFor({ state: "detached" })
      } finally {
        await client.close()
      }
      await page.close()
    },
    30_000
  )

  it("answers a choice request with its buttons, and grants and denies permission requests", async () => {
    const page = await signIn(ALICE)
    const client = await aliceClient()
    try {
      const choice = await client.invoke("choose", { prompt: "Deploy where?", options: ["staging", "production"] })
      const choices = page.getByTestId("pending-choice")
      await choices.waitFor()
      await choices.getByRole("button", { name: "staging" }).click()
      assert.deepStrictEqual(await choice.result, { choice_id: "staging" })

      const scope = { permission: "fs.write", operation: "write" }
      const granted = await client.invoke("guarded", { ...scope, resource: "file:/tmp/a" })
      await page.getByTestId("pending-permission").waitFor()
      assert.include(await page.getByTestId("pending-permission").innerText(), "file:/tmp/a")
      await page.screenshot({ path: join(shots, "permission.png") })
      await page.getByTestId("pending-permission").getByRole("button", { name: "Grant" }).click()
      const lease: unknown = await granted.result
      assert.include(JSON.stringify(lease), "file:/tmp/a")

      const denied = await client.invoke("guarded", { ...scope, resource: "file:/etc/passwd" })
      await page.getByTestId("pending-permission").getByRole("button", { name: "Deny" }).click()
      const refusal: unknown = await denied.result.then(() => undefined, (e: unknown) => e)
      assert.instanceOf(refusal, ArcpError)
      assert.strictEqual(refusal instanceof ArcpError ? refusal.code : undefined, "PERMISSION_DENIED")
      await page.locator(`[data-testid=job-${denied.jobId}][data-state=failed]`).waitFor()
    } finally {
      await client.close()
    }
    await page.close()
  }, 30_000)

  it("cancels a sleep from the job's detail", async () => {
    const page = await signIn(ALICE)
    await run(page, "sleep", { ms: 600_000 })
    await page.locator("[data-testid^=job-job_][data-state=running]").first().waitFor()
    await page.getByTestId("cancel").click()
    await page.locator("[data-testid^=job-job_][data-state=cancelled]").first().waitFor()
    assert.strictEqual(await page.getByTestId("job-state").innerText(), "cancelled")
    await page.close()
  }, 30_000)

  it("another principal's session and jobs stay hidden; an observer principal sees them", async () => {
    const client = await aliceClient()
    try {
      const job = await client.invoke("sleep", { ms: 600_000 })
      const carol = await signIn(CAROL)
      await carol.getByTestId(`job-${job.jobId}`).waitFor()
      const bob = await signIn(BOB)
      await bob.getByTestId("tab-sessions").click()
      await bob.locator("[data-testid^=session-sess_]").first().waitFor()
      // bob sees his own session only: alice's (with its running job) is not his to observe
      const rows = bob.locator("[data-testid^=session-sess_]")
      assert.strictEqual(await rows.count(), 1)
      assert.include(await rows.first().innerText(), "this page")
      await bob.getByTestId("tab-jobs").click()
      assert.strictEqual(await bob.locator(`[data-testid=job-${job.jobId}]`).count(), 0)
      await job.cancel()
      await carol.locator(`[data-testid=job-${job.jobId}][data-state=cancelled]`).waitFor()
      await carol.getByTestId("tab-sessions").click()
      await carol.screenshot({ path: join(shots, "sessions.png") })
      await carol.close()
      await bob.close()
    } finally {
      await client.close()
    }
  }, 30_000)

  it("lists an artifact a job made and downloads its bytes", async () => {
    const page = await signIn(ALICE)
    const client = await aliceClient()
    try {
      const job = await client.invoke("make_artifact", { size: 3000, media_type: "text/plain" })
      await job.result
      await page.locator(`[data-testid=job-${job.jobId}][data-state=completed]`).waitFor()
      await page.getByTestId("tab-artifacts").click()
      const [download] = await Promise.all([
        page.waitForEvent("download"),
        page.getByTestId("artifacts").locator("button").first().click()
      ])
      const path = await download.path()
      assert.strictEqual(statSync(path).size, 3000)
      await page.screenshot({ path: join(shots, "artifacts.png") })
    } finally {
      await client.close()
    }
    await page.close()
  }, 30_000)

  it("hundreds of jobs: the list renders only the rows in view", async () => {
    const page = await signIn(ALICE)
    const client = await aliceClient()
    try {
      const jobs = []
      for (let batch = 0; batch < 8; batch++) {
        const started = await Promise.all(Array.from({ length: 50 }, (_, i) => client.invoke("echo", { i })))
        await Promise.all(started.map((j) => j.result))
        jobs.push(...started)
      }
      // the newest job is at the top; the count includes the jobs of earlier tests (the subscription's backfill)
      await page.locator(`[data-testid=job-${jobs[jobs.length - 1]?.jobId ?? ""}][data-state=completed]`).waitFor({
        timeout: 20_000
      })
      const counted = Number(/(\d+) jobs/.exec(await page.locator(".filters").innerText())?.[1])
      assert.isAtLeast(counted, 400)
      const rendered = await page.locator("[data-testid^=job-job_]").count()
      assert.isAtMost(rendered, 60)
      assert.isAtLeast(rendered, 5)
      // scrolled to the end, the rows at the top leave the DOM and the count stays small
      await page.getByTestId("job-list").evaluate((el) => (el.scrollTop = el.scrollHeight))
      await page.getByTestId(`job-${jobs[jobs.length - 1]?.jobId ?? ""}`).waitFor({ state: "detached" })
      assert.isAtMost(await page.locator("[data-testid^=job-job_]").count(), 60)
    } finally {
      await client.close()
    }
    await page.close()
  }, 90_000)

  it("reads well on a phone-sized screen", async () => {
    const page = await signIn(ALICE, { width: 390, height: 844 })
    await run(page, "ticker", { count: 3, interval_ms: 50 })
    await page.locator("[data-testid^=job-job_][data-state=completed]").first().waitFor()
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
    assert.isAtMost(overflow, 0)
    await page.screenshot({ path: join(shots, "phone.png") })
    await page.close()
  }, 30_000)

  it("reconnects by itself after the runtime restarts", async () => {
    const page = await signIn(ALICE)
    const first = await page.getByTestId("status").getAttribute("data-status")
    assert.strictEqual(first, "open")
    const ws = Number(new URL(served?.address ?? "").port)
    const dashboard = Number(new URL(served?.dashboard ?? "").port)
    await stop(served)
    await page.locator("[data-status=retrying], [data-status=connecting]").first().waitFor()
    served = await start({ ws, dashboard })
    // the page retries with backoff (at most 5 s apart): a slow restart under load takes a few rounds
    await page.locator("[data-status=open]").waitFor({ timeout: 45_000 }).catch(async (e: unknown) => {
      throw new Error(`still "${await page.getByTestId("status").innerText()}" after the restart: ${String(e)}`)
    })
    await page.close()
  }, 90_000)
})
