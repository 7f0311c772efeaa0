/**
 * Every program under examples/ runs and prints what its comments promise, twice: against the sources
 * (tsx, through tsconfig's paths for `arcp` and `arcp/promise`) and against the built package (Node's
 * own resolution of the package's name to dist/, which the suite's global setup keeps built).
 * The table is in learning order (examples/README.md); each row is one primitive's example.
 */
import { assert, describe, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import { readdirSync } from "node:fs"
import { join } from "node:path"

const root = join(import.meta.dirname, "..")

type Mode = "sources" | "built package"

/** tsx without the paths (a tsconfig of its own) leaves `arcp` to Node: the package's exports, dist/. */
const commandFor = (file: string, mode: Mode) =>
  mode === "sources"
    ? { args: ["--import", "tsx", join(root, "examples", file)], env: {} }
    : file.endsWith(".ts")
    ? {
      args: ["--import", "tsx", join(root, "examples", file)],
      env: { TSX_TSCONFIG_PATH: join(root, "test", "fixtures", "tsconfig.dist.json") }
    }
    : { args: [join(root, "examples", file)], env: {} }

const run = (file: string, mode: Mode) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const { args, env } = commandFor(file, mode)
    execFile("node", args, { cwd: root, env: { ...process.env, ...env } }, (error, stdout, stderr) =>
      resolve({ code: error === null ? 0 : 1, stdout, stderr }))
  })

/** file → what it teaches → lines its output must contain. */
const examples: ReadonlyArray<readonly [file: string, teaches: string, expected: ReadonlyArray<string>]> = [
  ["00-quickstart.ts", "invokes a typed tool and prints its events and result", [
    "event job.progress",
    "result {\"greeting\":\"hello ada\"}"
  ]],
  ["00-quickstart.mjs", "runs a Promise tool through arcp/promise", ["event tool.result", "result 5"]],
  ...(["ts", "mjs"] as const).flatMap((ext) =>
    [
      [
        `01-handshake-auth.${ext}`,
        "opens sessions with a bearer token and a JWT after the jwt_nonce challenge; refuses a wrong token",
        [
          "bearer: session sess_",
          "jwt: session sess_",
          "accepted after the nonce challenge",
          "wrong token: UNAUTHENTICATED",
          ...(ext === "ts" ? ["challenge jwt_nonce for arcp://runtime: signing nonce received"] : [])
        ]
      ],
      [`02-invoke-progress.${ext}`, "invokes a tool and reads its progress, result, and a refusal of bad arguments", [
        "progress 1/3 image 1",
        "progress 3/3 image 3",
        "event tool.result",
        "result {\"resized\":3}",
        "bad arguments: INVALID_ARGUMENT"
      ]],
      [`03-cancel-aborted.${ext}`, "cancels a cooperative job (CANCELLED) and a deaf one (ABORTED)", [
        "crawl: cancel.accepted",
        "crawl: ended CANCELLED",
        "legacy: cancel.accepted",
        "legacy: ended ABORTED"
      ]],
      [
        `04-heartbeats-watchdog.${ext}`,
        "sees runtime heartbeats, and the watchdog ending a silent job HEARTBEAT_LOST",
        [
          "heartbeat interval 1 s",
          "render: job.heartbeat #1 (running)",
          "render: result {\"frames\":24}",
          "worker: job.failed",
          "worker: HEARTBEAT_LOST no liveness for"
        ]
      ],
      [`05-interrupt.${ext}`, "interrupts a job, answers the guidance request, and the job resumes with it", [
        "interrupted",
        "asked: Too stiff? Tell me the tone to use.",
        "progress 4/4 casual paragraph",
        "result {\"paragraphs\":4,\"tone\":\"casual\"}"
      ]],
      [`06-streams.${ext}`, "reads text, thought (one chunk redacted) and binary streams", [
        "open thought",
        "thought \"The user wants a plot; \"",
        "thought (redacted)",
        "close text after 4 chunks",
        "open binary image/png",
        "binary chunk 1024 bytes",
        "close binary after 2 chunks",
        "text \"Here is your chart.\""
      ]],
      [
        `07-human-input.${ext}`,
        "answers a human input and a choice; an unanswered choice takes its default, an input expires",
        [
          "asked: Which city?",
          "choose: Which hotel in Lyon? [harbour|station]",
          "human.choice.response by default",
          "tool: confirmation DEADLINE_EXCEEDED",
          "human.input.cancelled DEADLINE_EXCEEDED",
          "result {\"city\":\"Lyon\",\"hotel\":\"harbour\",\"breakfast\":\"no\",\"confirmed\":false}"
        ]
      ],
      [
        `15-extension.${ext}`,
        "sends a negotiated extension request raw, an unknown one (UNIMPLEMENTED), an optional one (dropped)",
        [
          "negotiated extensions: arcpx.arcp.tools.v1",
          "arcpx.arcp.tools.v1.listed: echo",
          "arcpx.acme.audit.v1.note: UNIMPLEMENTED",
          "optional note sent; session alive, ping ok",
          ...(ext === "ts"
            ? ["ping with arcpx.acme.tenant.v1 field: ok", "ping with x-tenant field: INVALID_ARGUMENT"]
            : [])
        ]
      ]
    ] as const
  ),
  ["08-permissions-leases.mjs", "asks permission before a pretend refund; the Promise client approves", [
    "asked: payment.refund.create on order:ord_4812",
    "granted payment.refund.create on order:ord_4812",
    "event lease.granted",
    "result {\"order\":\"ord_4812\",\"refunded\":25}"
  ]],
  ["10-artifacts.mjs", "uploads, runs a tool that stores its output, and streams both back", [
    "binary encodings base64,sidecar",
    "put 3145728 bytes",
    "fetched sha256 matches true",
    "tool artifact text/plain 8893 bytes, last line \"line 1000\""
  ]],
  [
    "12-scheduled-retries.ts",
    "R10.1-1 R10.6-1 retries a failing tool under one job, then schedules it and sees its firing",
    [
      "scheduled_jobs true",
      "retry attempt 1 of 4 failed with UNAVAILABLE",
      "retry attempt 2 of 4 failed with UNAVAILABLE",
      "result {\"key\":\"ada\",\"value\":\"ADA\",\"attempt\":3}",
      "fired {\"result\":{\"key\":\"grace\",\"value\":\"GRACE\",\"attempt\":1}}"
    ]
  ],
  [
    "14-mcp-tools.ts",
    "wraps a stdio MCP server: its tool is discovered as hello.say and runs as a job, its resource is read as an artifact",
    [
      "tool hello.say: Greets someone",
      "event tool.result",
      "result \"hello ada\"",
      "resource hello://motd as artifact: keep your MCP tools, gain jobs"
    ]
  ],
  ...(["node-http", "express", "fastify", "hono"] as const).map((framework) =>
    [`mount-${framework}.mjs`, "mounts arcp on the application's own server at /arcp; its routes carry on", [
      `result "HELLO FROM ${framework.toUpperCase().replace("-", ":")}"`,
      ...(framework === "node-http" ? ["dashboard http://127.0.0.1:", "/dashboard/\n", "/arcp\n"] : [])
    ]] as const
  ),
  ["09-subscriptions.mjs", "R13.1-1 R13.3-1 runs a job on one connection and watches it from another", [
    "worker result {\"counted\":3}",
    [
      "watcher job 1 job.progress 1/3",
      "watcher job 1 job.progress 2/3",
      "watcher job 1 job.progress 3/3",
      "watcher job 1 tool.result {\"counted\":3}",
      "watcher --- backfill complete, live from here ---",
      "watcher job 2 job.progress 1/2",
      "watcher job 2 job.progress 2/2",
      "watcher job 2 tool.result {\"counted\":2}"
    ].join("\n")
  ]],
  ["11-resume-after-drop.mjs", "R19-1 cuts the connection mid-job; the client resumes and every tick arrives once", [
    "cutting the connection",
    "ticks 1,2,3,4,5,6,7,8,9,10",
    "result {\"counted\":10}"
  ]],
  [
    "13-delegation.ts",
    "R14-1 R14-2 R17.1-3 two arcp serve processes: A delegates to B, cancel propagates, B refuses a foreign handoff, A hands a running job to B, one trace",
    [
      "delegated result {\"greeting\":\"hi\"}",
      "A's job CANCELLED",
      "B's delegated job: cancel.refused already_terminal",
      "handoff to runtime-c refused: PERMISSION_DENIED",
      "A refuses to hand to runtime-c: PERMISSION_DENIED",
      "handed-off job result {\"count\":5}",
      "B's handed-over job: cancel.refused already_terminal",
      "one trace across runtime-a and runtime-b: true"
    ]
  ],
  ["14-mcp-host.ts", "serves a runtime's tools to an MCP client, with progress", [
    "mcp tools count",
    "mcp progress 1/3",
    "mcp result {\"counted\":3}"
  ]]
]

describe("examples", () => {
  it("every program in examples/ is in the table (a new example is run by the suite)", () => {
    const listed = new Set(examples.map(([file]) => file))
    const present = readdirSync(join(root, "examples")).filter((f) => /\.(ts|mjs)$/.test(f))
    assert.deepStrictEqual(present.filter((f) => !listed.has(f)), [])
  })

  for (const mode of ["sources", "built package"] as const) {
    // concurrent: each example is its own process, mostly waiting on timers and sockets
    describe.concurrent(mode, () => {
      for (const [file, teaches, expected] of examples) {
        it(`${file} ${teaches} (${mode})`, async () => {
          const { code, stderr, stdout } = await run(file, mode)
          assert.strictEqual(code, 0, stderr)
          for (const line of expected) assert.include(stdout, line, `${file} printed:\n${stdout}`)
        }, 120_000)
      }
    })
  }
})
