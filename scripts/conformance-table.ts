/**
 * Regenerates CONFORMANCE.md from the digest (RFC-0001-v2.md), the STATUS map below and the test titles:
 * `npm run conformance` (which runs `tsx scripts/conformance-table.ts > CONFORMANCE.md`). Run it after
 * changing a status or adding tests. Tests are found by the requirement ids in their titles;
 * test/conformance.test.ts checks the result.
 */
import { readdirSync, readFileSync, statSync } from "node:fs"
import { join } from "node:path"

const root = join(import.meta.dirname, "..")

type Status = "done" | "partial" | "not yet"

/** id -> [status, note]. Ids not listed are "not yet" with the note of their section in NOT_BUILT. */
const STATUS: Record<string, readonly [Status, string]> = {
  "R4.1-1": ["done", ""],
  "R4.1-2": ["done", ""],
  "R4.2-1": ["done", "ToolContext.stream"],
  "R4.2-2": ["partial", "as kind event streams; event.emit is not built"],
  "R4.2-6": ["done", "kind thought streams"],
  "R4.2-3": ["done", "ToolContext.log"],
  "R4.2-4": ["done", "ToolContext.progress"],
  "R4.2-5": ["done", "ToolContext.checkpoint emits job.checkpoint"],
  "R4.3-1": ["done", "event log and job records on SQLite (default) or PostgreSQL (--store postgres://)"],
  "R4.3-4": ["done", ""],
  "R4.3-5": ["done", ""],
  "R4.3-2": [
    "done",
    "a job whose runtime is gone (stopped, its instance lease lapsed, or a dead pid on this host) is taken over exactly once, at the next start or by a running runtime's sweep on the same store: resumed from its checkpoint or ended ABORTED"
  ],
  "R4.3-3": [
    "done",
    "a tool with a resume policy (Tools.make resume) runs again under its job id from its last job.checkpoint, told what it delivered since (ToolContext.restored); others end ABORTED"
  ],
  "R4.4-1": ["done", ""],
  "R4.4-2": [
    "done",
    "the arcp field is required and must be major.minor; another major version is refused UNIMPLEMENTED naming 1.0"
  ],
  "R4.4-3": ["done", ""],
  "R4.6-1": ["done", ""],
  "R4.6-2": ["done", ""],
  "R4.7-1": ["done", ""],
  "R4.7-2": ["done", ""],
  "R6.1-1": [
    "done",
    "once the session is open, a session_id missing or naming another session is nacked INVALID_ARGUMENT (resume excepted); the bundled clients always send it"
  ],
  "R6.1.1-1": ["done", ""],
  "R6.1.1-2": [
    "done",
    "dedup by (principal, id), also across connections and restarts; replays read only the principal's own envelopes"
  ],
  "R6.1.1-3": ["done", "a repeated idempotency key is answered with its own correlation_id and causation_id"],
  "R6.2-1": ["done", ""],
  "R6.3-1": ["done", ""],
  "R6.3-2": [
    "done",
    "workflow.start runs inline steps as child jobs; workflow.complete, then job.completed (docs/decisions.md)"
  ],
  "R6.3-3": [
    "done",
    "also a key reused for another command (ALREADY_EXISTS) and a wrong envelope session_id (INVALID_ARGUMENT)"
  ],
  "R6.4-1": [
    "done",
    "a durable job's events are logged before they are sent; a client that lost them (dropped connection, runtime restart) gets each again by resume, the bundled clients resuming on their own (also their subscriptions); receivers dedup by id"
  ],
  "R6.4-2": [
    "done",
    "also a second copy inside one burst; a duplicate replays its answers and its job's events (a repeated idempotency key: its own answers only)"
  ],
  "R6.4-7": [
    "partial",
    "the runtime's part: answers and job events carry correlation_id and causation_id, kept byte for byte by a replay; the bundled clients correlate answers and route job events by them but build no graph for the application"
  ],
  "R6.4-3": ["partial", "idempotency keys make repeated commands safe; tools themselves are the author's"],
  "R6.4-4": [
    "done",
    "the client takes an idempotency_key per invoke; every handle of a repeated key settles, also while the job runs"
  ],
  "R6.4-5": [
    "done",
    "24 h horizon, configurable; stored with a digest of (tool, canonical arguments): another command under the key is refused ALREADY_EXISTS"
  ],
  "R6.4-6": [
    "done",
    "each repeat gets one job.accepted and one terminal correlated to its own id (same job_id and outcome), while the job runs or after it ended"
  ],
  "R6.5-1": ["done", ""],
  "R6.5-2": ["done", "outbound priority lanes with a fairness floor of 8"],
  "R6.5-4": ["done", ""],
  "R6.5-3": [
    "done",
    "under a full outbound buffer low-priority job.progress / log / metric are shed from the live delivery (still committed: resume and subscription backfill read them); stream chunks, terminals, answers and normal+ traffic wait instead (docs/decisions.md Shedding)"
  ],
  "R7-1": ["done", ""],
  "R7-2": ["done", ""],
  "R7-3": ["done", ""],
  "R8.1-1": [
    "done",
    "the client sends only session.open / session.authenticate before session.accepted (its frames are recorded in the test)"
  ],
  "R8.1-2": ["done", ""],
  "R8.2-1": [
    "done",
    "all five schemes; mtls from the TLS-verified client certificate (wss://, https://), client.fingerprint = sha256: of its DER"
  ],
  "R8.2-2": ["done", "oauth2: JWT access tokens against a JWKS, or RFC 7662 introspection (cached, bounded)"],
  "R8.2-3": ["done", ""],
  "R8.3-1": ["done", ""],
  "R8.3-2": ["done", ""],
  "R8.4-1": ["done", ""],
  "R8.4-2": ["done", ""],
  "R8.5-1": [
    "done",
    "idle eviction; every session on shutdown (UNAVAILABLE); a reader stalled past --stalled-reader-timeout (BACKPRESSURE_OVERFLOW); a log that cannot record (UNAVAILABLE); --max-sessions refusals"
  ],
  "R8.5-2": ["done", "except a session cancel, whose reason is 'cancelled' per \u00a710.4"],
  "R9-2": ["done", "sessions keep principal, negotiated capabilities and lease"],
  "R9-3": [
    "done",
    "a session outlives its connection (and a restart) for --resume-window; session.open naming its session_id takes it back, its own principal only"
  ],
  "R9-8": ["done", "the clients send resume {after_message_id} after reconnecting"],
  "R9-5": ["done", "re-authentication keeps the principal"],
  "R9-9": [
    "done",
    "dispose_jobs cancel (default, all at once) or detach; a job that cannot be cancelled completes detached and the closer gets a warn log; a dropped connection detaches"
  ],
  "R10.1-2": ["done", ""],
  "R10.1-3": ["partial", "checkpoints are recorded; checkpoint.create/restore are not built"],
  "R10.1-4": ["done", ""],
  "R10.1-5": ["done", ""],
  "R10.2-1": ["done", ""],
  "R10.2-2": [
    "done",
    "every state change: checkpoints and the terminal awaited; accepted/running/blocked staged into the next group commit"
  ],
  "R10.2-4": [
    "done",
    "retry_count counts the handler's re-runs under the tool's retry policy; written before each retry runs"
  ],
  "R10.2-3": ["done", ""],
  "R10.2-5": ["done", ""],
  "R10.3-1": ["done", ""],
  "R10.3-2": ["done", ""],
  "R10.3-3": ["done", ""],
  "R10.3-4": ["done", ""],
  "R10.4-1": [
    "done",
    "fiber interruption within deadline_ms (default 5 s, --cancel-deadline-ms); a session cancel gives all its jobs its deadline at once"
  ],
  "R10.4-2": ["done", ""],
  "R10.4-3": ["done", ""],
  "R10.4-4": ["done", "the job runs on; the handler's writer fails CANCELLED"],
  "R10.4-5": [
    "done",
    "reason 'cancelled' as \u00a710.4 spells it (other evictions carry canonical codes); see docs/decisions.md"
  ],
  "R10.4-6": ["done", "the fiber is abandoned"],
  "R10.4-7": ["done", ""],
  "R10.4-8": ["done", ""],
  "R10.5-1": [
    "done",
    "the job is blocked and the request sent at once, whatever the handler is doing; its next ToolContext call waits for the answer or cancel; needs human_input negotiated"
  ],
  "R10.5-2": ["done", "advertised true, and honoured"],
  "R10.6-2": ["done", "schema, then refusals with the reason (a past at)"],
  "R10.6-3": ["done", "scheduling is built: scheduled_jobs is advertised true"],
  "R10.6-4": [
    "done",
    "expanded by the rrule library: DTSTART (TZID time zones), UNTIL, COUNT; refused when it never fires or fires more often than the minimum interval (60 s)"
  ],
  "R10.6-5": ["done", "seconds from acceptance"],
  "R11-1": ["done", "a job may hold several streams; they share its ordered lane"],
  "R11-2": [
    "done",
    "a stream's writer waits for room in its reader's bounded buffer (past --backpressure-timeout the stream ends BACKPRESSURE_OVERFLOW), and a client's backpressure message paces it (R11.2-*); no stream acks"
  ],
  "R11.2-1": ["done", "with stream_id: that stream; without: the session's streams below high priority"],
  "R11.2-2": [
    "done",
    "the writer is paced to desired_rate_per_second (0, or buffer_remaining_bytes 0 alone: paused until the next backpressure)"
  ],
  "R11.2-3": [
    "done",
    "a session-wide backpressure slows low and normal streams, not high or critical ones; a full buffer sheds low-priority progress/log/metric from the live delivery first (they stay in the log); stream chunks are slowed, never shed"
  ],
  "R11.1-1": ["done", ""],
  "R11.1-2": ["not yet", "the client hands every stream event to the app, which decides"],
  "R11.1-3": [
    "not yet",
    "the runtime receives no streams and the client does not interpret kinds (Streaming.effectiveKind exists)"
  ],
  "R11.3-1": ["done", "application/octet-stream unless the tool names a type"],
  "R11.3-2": ["partial", "sidecar chunks carry sha256 (and size), checked by the client; base64 chunks carry none"],
  "R11.3-3": [
    "done",
    "sidecar frames carry artifact puts and fetches and, on WebSocket sessions that negotiated sidecar, binary stream chunks (header in docs/decisions.md)"
  ],
  "R11.3-4": [
    "done",
    "the client holds a sidecar chunk until its frames (keyed by stream_id and sequence) arrive; missing, short or corrupt data ends the stream DATA_LOSS"
  ],
  "R11.3-5": ["done", "stdio offers base64 only"],
  "R11.3-6": ["done", "[base64, sidecar] on WebSocket, [base64] on stdio"],
  "R11.4-1": ["done", ""],
  "R11.4-2": [
    "done",
    "ctx.stream({ kind: \"thought\", redact: true | summarize }) or write({ content, redacted: true }); observers see exactly the redacted chunks"
  ],
  "R11.4-3": ["done", "the subscription filter's exclude_kinds: [\"thought\"] (our addition; arcp tail --no-thoughts)"],
  "R12.1-1": ["done", "Ajv"],
  "R12.3-1": ["done", "first valid answer from any session of the principal wins; later ones are ignored"],
  "R12.3-2": [
    "done",
    "the answer is logged with its responded_by; when fanned out, the job also records a response naming responded_by"
  ],
  "R12.3-3": [
    "done",
    "the request reaches the job's session and every subscription observing it; when it went to more than one channel the resolution is announced on the job"
  ],
  "R12.3-4": ["done", "human.input.cancelled (CANCELLED, naming who answered) clears the other channels' prompts"],
  "R12.4-1": ["done", ""],
  "R12.4-2": ["done", ""],
  "R12.4-3": ["done", ""],
  "R12.4-4": ["done", "the blocked job fails DEADLINE_EXCEEDED"],
  "R13.1-1": [
    "done",
    "visibility decided once in Feed: own principal's sessions, plus an operator's observer grant (--observer, JWT arcp_observe)"
  ],
  "R13.2-1": ["done", "plus exclude_kinds (our addition)"],
  "R13.2-2": [
    "done",
    "a named session or job not observable (or unknown) is PERMISSION_DENIED; an open filter is narrowed"
  ],
  "R13.3-1": [
    "done",
    "since.after_message_id, since.checkpoint_id, or since {} from the start; no timestamp (docs/decisions.md)"
  ],
  "R13.4-1": ["done", "answered with ack"],
  "R13.4-2": [
    "done",
    "on the subscribing session's eviction (its reason, e.g. UNAUTHENTICATED when its credential expires), queue overflow (BACKPRESSURE_OVERFLOW), log failure; not on an observed session's eviction (its feed goes on)"
  ],
  "R14-1": [
    "done",
    "ctx.delegate sends agent.delegate over the project's client; its envelopes and context.trace_id carry the delegating job's trace; permissions_inherited become leases of the delegated job as far as the receiver's policy grants"
  ],
  "R14-2": [
    "done",
    "the receiver compares to_runtime's kind and fingerprint with its own identity; another is refused PERMISSION_DENIED. A handoff to a configured remote moves running jobs there (tool, arguments, last checkpoint), the sender following them; the session itself stays with its runtime (docs/decisions.md)"
  ],
  "R17.1-1": [
    "done",
    "W3C ids from the Effect span the envelope is sent in; minted at session.open when the peer sends none"
  ],
  "R17.1-2": ["done", "every envelope its own span id, parent_span_id the operation's span"],
  "R17.1-3": ["done", "one trace across two runtimes, on the wire and in the exported spans"],
  "R15.1-1": ["done", "ToolContext.requestPermission names permission, resource and operation"],
  "R15.4-1": [
    "done",
    "a live lease of the principal covering permission, operation and resource (exact, or a resource pattern ending in *) answers without a prompt"
  ],
  "R15.4-2": [
    "done",
    "leases carry permission, resource, operation and expires_at; default 5 min, capped by --max-lease"
  ],
  "R15.4-3": ["done", "permission.request carries the job id; the job record reads blocked"],
  "R15.4-4": ["done", "permission.grant / permission.deny correlated to the request; another principal gets NOT_FOUND"],
  "R15.4-5": [
    "done",
    "PermissionPolicy (grant, deny, ask) decides first; unanswered requests expire after --permission-timeout (5 min)"
  ],
  "R15.5-1": [
    "done",
    "lease.granted, lease.refresh / lease.extended (capped), lease.revoked (operator, or the session lease ended unrenewed); ToolContext.checkLease; leases stored in the event log"
  ],
  "R15.6-1": [
    "done",
    "trust.elevate.<level> through the same flow; a live elevation lease lifts the session's level for tool minimums"
  ],
  "R15.6-2": ["done", "a log and an arcpx.arcp.trust.elevations metric event on the job that asked"],
  "R16.3-1": ["done", "from --artifact-ttl / --artifact-max-ttl"],
  "R17.3.1-1": [
    "done",
    "as metric events to sessions that negotiate arcpx.arcp.metrics.v1; aggregated under the same names otherwise"
  ],
  "R17.3.1-2": ["done", ""],
  "R17.3.1-3": ["done", ""],
  "R18.1-1": ["done", ""],
  "R18.2-1": ["done", ""],
  "R18.2-2": ["done", ""],
  "R18.2-3": ["done", ""],
  "R18.3-1": ["done", ""],
  "R21.1-1": ["done", ""],
  "R21.1-3": ["done", ""],
  "R21.1-2": [
    "done",
    "x- envelope keys are nacked and x- names in capabilities.extensions reject the session, unless allowExperimentalExtensions (RuntimeConfig)"
  ],
  "R21.2-1": ["done", "session.accepted lists the negotiated extensions (the intersection)"],
  "R21.2-2": ["done", ""],
  "R21.3-1": ["done", ""],
  "R21.3-2": ["done", ""],
  "R21.3-3": ["done", ""],
  "R4.1-3": ["done", "h2c and TLS; one POST /arcp stream per session, newline-delimited JSON both ways"],
  "R4.1-5": ["done", "owner-only socket file, stale files replaced, removed on shutdown"],
  "R4.1-6": [
    "partial",
    "Windows named pipes use the same node:net server as Unix sockets, but only Unix sockets are exercised (the tests run on Linux)"
  ],
  "R4.1-4": ["not yet", "Node 20 has no stable QUIC API; see docs/decisions.md"],
  "R4.1-7": ["not yet", "message queues belong to the scale-out work"],
  "R22-1": ["done", "WebSocket (ws://, wss://, or mounted on an application's server), stdio, Unix sockets and HTTP/2"],
  "R22-3": ["done", ""],
  "R20-1": [
    "done",
    "MCP servers (stdio, streamable HTTP) as ARCP tools NAME.tool: arcp serve --mcp / McpTools.registry; and arcp mcp serves ARCP tools to MCP hosts"
  ],
  "R20-2": [
    "done",
    "MCP resources as tools over artifacts and kind event streams: NAME.resources.list / .read (contents stored as artifacts) / .subscribe (a kind event stream of changes)"
  ],
  "R16.1-1": ["done", "ToolContext.putArtifact; Tools.resultRef puts the ref in the terminal's result_ref"],
  "R16.2-1": ["done", "inline base64 or sidecar frames keyed to the put's id"],
  "R16.2-2": ["done", "inline (one frame) or sidecar frames; no redirect URI"],
  "R16.2-3": ["done", "released artifacts are removed at once"],
  "R16.3-2": ["done", "a retention sweep at start and every minute; fetch checks expiry itself"],
  "R16.3-3": ["done", "content-addressed files beside the SQLite file by default; memory with --db :memory:"],
  "R22-2": [
    "done",
    "WebSocket carries artifacts and binary stream chunks as sidecar frames; client-to-runtime bytes are artifact puts (the runtime receives no streams)"
  ],
  "R10.6-1": [
    "done",
    "Scheduler: answered job.accepted naming a sch_ id; firings are jobs caused by the job.schedule; cancel {target: job} of the schedule; listing extension arcpx.arcp.schedules.v1"
  ],
  "R4.3-6": [
    "done",
    "schedules and their next firing are in the store (SQLite, PostgreSQL or memory); a restart re-arms them; missed firings run once or are skipped, per schedule"
  ],
  "R10.1-1": [
    "done",
    "a tool's retry policy (attempts, backoff, codes) on Effect Schedule, under the same job id; clients retry on request"
  ],
  "R18.3-2": ["done", "runtime retries and client retries wait at least details.retry_after_seconds"],
  "R8.5-3": [
    "done",
    "an evicted session's jobs run on detached; a new session of the same principal takes one up with resume {job_id} (its events after the point, re-addressed, then live); a resumable eviction may also take the session back"
  ],
  "R19-1": [
    "done",
    "the Effect client and the Promise adapter reconnect (bounded exponential backoff with jitter) and resume, their subscriptions subscribing again after the last event handed on; a resume refused DATA_LOSS is a typed ClientError; arcp send too"
  ],
  "R19-2": [
    "done",
    "resume {after_message_id} or {checkpoint_id}; job_id narrows it (include_open_streams false leaves streams out); several non-overlapping resumes per connection"
  ],
  "R19-3": [
    "done",
    "the session's envelopes after the point, original order and ids, then live (Feed.follow); what is older than --log-retention (24 h, at least the replay retention) is deleted, a running job's events excepted"
  ],
  "R19-4": ["done", "an unknown point, or one past --replay-retention, is answered DATA_LOSS; the session goes on"]
}

/** Why a section is not built, for its requirements missing from STATUS. */
const NOT_BUILT: Record<string, string> = {
  "2": "informative: nothing to implement",
  "4.1": "only stdio, WebSocket and in-memory transports are built",
  "4.2": "streams and events from tools are not built yet",
  "4.3": "",
  "6.3": "not built",
  "6.4": "",
  "6.5":
    "no separate rate limit of a client's critical traffic (R6.5-5 is a MAY): inbound messages are bounded per connection like any other",
  "8.2": "oauth2 answers UNIMPLEMENTED",
  "8.5": "",
  "9": "",
  "10.1": "no retries",
  "10.2": "retry_count is always 0: no retries",
  "10.4": "streams are not built",
  "10.5": "client-side fallback not built",
  "10.6": "scheduling is not built (advertised false)",
  "11": "streams are not built",
  "11.1": "streams are not built",
  "11.2":
    "backpressure messages are not built (a client's answers UNIMPLEMENTED); the runtime's own flow control is the bounded outbound buffer (R11-2)",
  "11.3": "binary streams and sidecar frames are not built",
  "11.4": "reasoning streams are not built",
  "12.3": "multi-channel fan-out is not built",
  "13.1": "subscriptions are not built",
  "13.2": "subscriptions are not built",
  "13.3": "subscriptions are not built",
  "13.4": "subscriptions are not built",
  "15.2": "no sandboxing",
  "15.4": "",
  "15.5": "",
  "15.6": "",
  "16.1": "artifacts are not built",
  "16.2": "artifacts are not built",
  "16.3": "artifacts are not built",
  "18.3": "the client does not retry",
  "19": "checkpoint snapshots restored on request (checkpoint.restore) are not built",
  "21.4": "no promoted extensions exist",
  "22": "no sidecar frames yet"
}

const read = (path: string) => readFileSync(join(root, path), "utf8")

const digest = [
  ...read("RFC-0001-v2.md").matchAll(/^- \*\*(R([0-9.]+)-[0-9]+)\*\* \((MUST NOT|MUST|SHOULD NOT|SHOULD|MAY)\) /gm)
].map(([, id = "", section = "", keyword = ""]) => ({ id, section, keyword }))

/** The test files, directories and files in name order (so the table does not depend on the file system). */
const testFiles = (dir: string): Array<string> =>
  readdirSync(dir).sort().flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? testFiles(path) : name.endsWith(".ts") ? [path] : []
  })

/** A title: the string literal opening an it/test/describe call, also a modified one (`it.effect(`, `it.skipIf(cond)(`). */
const titlePattern = /\b(?:it|test|describe)(?:\.\w+(?:\([^()]*\))?)*\(\s*(["'`])((?:\\.|(?!\1).)*)\1/g

const titles = testFiles(join(root, "test"))
  .filter((file) => !file.endsWith("conformance.test.ts"))
  .flatMap((file) => [...readFileSync(file, "utf8").matchAll(titlePattern)].map((m) => m[2] ?? ""))

/** True when `title` names `id` as a whole token (R10.4-1 does not match inside R10.4-12). */
const names = (title: string, id: string) => new RegExp(`(^|[^\\w.-])${id.replace(/\./g, "\\.")}(?![\\d.])`).test(title)

const out: Array<string> = [
  `# Conformance

Every requirement of our digest [RFC-0001-v2.md](RFC-0001-v2.md), with its status in this build and
the tests that prove it. \`done\`: built, and proven by the tests named. \`partial\`: part of it is built
(the note says what is missing), proven as far as it goes. \`not yet\`: not built (the note says why).
\`npm test\` runs \`test/conformance.test.ts\`, which fails if this table and the digest disagree on ids,
if a \`done\` or \`partial\` requirement has no test whose title names it, or if a test cited here does
not exist. The table is regenerated by \`npm run conformance\` (scripts/conformance-table.ts).

| Requirement | Keyword | Status | Tests / notes |
|---|---|---|---|`
]
const counts: Record<Status, number> = { "done": 0, "partial": 0, "not yet": 0 }
for (const { id, keyword, section } of digest) {
  const [status, note] = STATUS[id] ?? ["not yet", NOT_BUILT[section] ?? "not built yet"]
  counts[status] += 1
  const cited = status === "not yet"
    ? []
    : titles.filter((t) => names(t, id) && !t.includes("`") && !t.includes("|")).slice(0, 3)
  let cell = cited.map((t) => `\`${t}\``).join("; ")
  if (note !== "") cell = cell !== "" ? `${cell} — ${note}` : note
  out.push(`| ${id} | ${keyword} | ${status} | ${cell !== "" ? cell : "—"} |`)
}
out.push(
  "",
  `${counts["done"]} done, ${counts["partial"]} partial, ${
    counts["not yet"]
  } not yet, of ${digest.length} requirements.`
)
process.stdout.write(`${out.join("\n")}\n`)
