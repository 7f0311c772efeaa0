/**
 * Two runtimes working together (§14, §17.1): two real `arcp serve` processes, A and B. A's
 * `delegate` tool hands work to B (named in A's --remotes file) and gets the result back;
 * cancelling A's job cancels B's; B refuses a handoff addressed to a third runtime; A hands a
 * running ticker job to B, where it continues from its last checkpoint and whose result comes back
 * through A; and both
 * export their spans over OTLP to a collector stand-in in this process, where one trace id joins
 * the client's request, A's job and B's job. Run it with `node --import tsx examples/13-delegation.ts`
 * (against the sources) or, after `npm run build`, against the built package.
 */
import { Client, Errors, WebSocket } from "arcp"
import { Console, Effect, Queue, Stream } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { createServer, type IncomingMessage } from "node:http"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const bin = fileURLToPath(new URL("../bin/arcp.js", import.meta.url))

/** A stand-in OTLP/HTTP collector: keeps (service, trace id, span name) of every span it is sent. */
const collector = () => {
  const spans: Array<{ service: string; traceId: string; name: string }> = []
  const read = (request: IncomingMessage) =>
    new Promise<string>((resolve) => {
      let body = ""
      request.on("data", (chunk: Buffer) => (body += chunk.toString()))
      request.on("end", () => resolve(body))
    })
  const server = createServer((request, response) => {
    void read(request).then((body) => {
      const json = JSON.parse(body) as {
        resourceSpans?: Array<{
          resource?: { attributes?: Array<{ key: string; value: { stringValue?: string } }> }
          scopeSpans?: Array<{ spans?: Array<{ traceId: string; name: string }> }>
        }>
      }
      for (const resource of json.resourceSpans ?? []) {
        const service = resource.resource?.attributes?.find((a) => a.key === "service.name")?.value.stringValue ?? "?"
        for (const scope of resource.scopeSpans ?? []) {
          for (const span of scope.spans ?? []) spans.push({ service, traceId: span.traceId, name: span.name })
        }
      }
      response.writeHead(200, { "content-type": "application/json" }).end("{}")
    })
  })
  return new Promise<{ url: string; spans: typeof spans; close: () => void }>((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        spans,
        close: () => server.close()
      }))
  )
}

/** Starts `arcp serve` on a free port; resolves with its address once it prints it. */
const serve = (name: string, args: ReadonlyArray<string>) =>
  new Promise<{ child: ChildProcess; address: string }>((resolve, reject) => {
    const child = spawn("node", [bin, "serve", "--port", "0", "--db", ":memory:", ...args], {
      env: { ...process.env, OTEL_SERVICE_NAME: name, OTEL_BSP_SCHEDULE_DELAY: "100" },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let out = ""
    child.stdout?.on("data", (chunk: Buffer) => {
      out += chunk.toString()
      const match = /serving on (ws:\/\/\S+)/.exec(out)
      if (match?.[1] !== undefined) resolve({ child, address: match[1] })
    })
    child.once("exit", (code) => reject(new Error(`${name} exited early with ${code}: ${out}`)))
  })

const main = async () => {
  const otlp = await collector()
  const dir = mkdtempSync(join(tmpdir(), "arcp-delegation-"))
  const children: Array<ChildProcess> = []
  try {
    // B trusts A's token; A knows B as the remote "b", pinned to B's fingerprint
    const b = await serve("runtime-b", [
      "--bearer",
      "a-to-b=runtime-a",
      "--fingerprint",
      "sha256:runtime-b",
      "--otlp-endpoint",
      otlp.url
    ])
    children.push(b.child)
    const remotes = join(dir, "remotes.json")
    writeFileSync(remotes, JSON.stringify({ b: { url: b.address, token: "a-to-b", fingerprint: "sha256:runtime-b" } }))
    const a = await serve("runtime-a", [
      "--bearer",
      "alice-token=alice",
      "--fingerprint",
      "sha256:runtime-a",
      "--remotes",
      remotes,
      "--otlp-endpoint",
      otlp.url
    ])
    children.push(a.child)

    const program = Effect.gen(function*() {
      const session = yield* Client.connect(yield* WebSocket.connect(a.address), {
        credentials: { scheme: "bearer", token: "alice-token" }
      })
      // 1. A's delegate tool sends the work to B's echo; the result comes back
      const job = yield* session.invoke("delegate", { remote: "b", target: "echo", arguments: { greeting: "hi" } })
      const result = yield* job.outcome
      yield* Console.log(`delegated result ${JSON.stringify(result)}`)

      // 2. cancelling A's job cancels the job it delegated to B
      const slow = yield* session.invoke("delegate", { remote: "b", target: "sleep", arguments: { ms: 60_000 } })
      const remoteJobId = yield* slow.events.pipe(
        Stream.filter((e) => e.type === "log"),
        Stream.map((e) => Reflect.get(Reflect.get(e.payload, "attributes") ?? {}, "remote_job_id")),
        Stream.filter((id): id is string => typeof id === "string"),
        Stream.runHead,
        Effect.flatten
      )
      yield* slow.cancel({ reason: "changed my mind" })
      const cancelled = yield* Effect.flip(slow.outcome)
      yield* Console.log(`A's job ${cancelled._tag === "ArcpError" ? cancelled.code : cancelled.reason}`)
      // on B (as A, whose job it is), the delegated job has ended: a cancel of it is refused already_terminal
      const onB = yield* Client.connect(yield* WebSocket.connect(b.address), {
        credentials: { scheme: "bearer", token: "a-to-b" }
      })
      const answer = yield* onB.request("cancel", { target: "job", target_id: remoteJobId })
      yield* Console.log(`B's delegated job: ${answer.type} ${String(Reflect.get(answer.payload, "reason") ?? "")}`)

      // 3. B refuses a handoff addressed to another runtime
      const refused = yield* Effect.flip(onB.handoff({ kind: "arcp", fingerprint: "sha256:runtime-c" }))
      yield* Console.log(
        `handoff to runtime-c refused: ${refused._tag === "ArcpError" ? refused.code : refused.reason}`
      )

      // 4. A hands a running job to B (its remote, named by B's fingerprint): the job stops on A where it
      // stands, continues on B from its last checkpoint, and its result comes back through A
      const ticking = yield* session.invoke("ticker", { count: 5, interval_ms: 200 })
      const events = yield* Queue.unbounded<{ readonly type: string; readonly payload: object }>()
      yield* ticking.events.pipe(Stream.runForEach((e) => Queue.offer(events, e)), Effect.forkScoped)
      for (let ticks = 0; ticks < 2;) if ((yield* Queue.take(events)).type === "job.progress") ticks++
      const unknown = yield* Effect.flip(
        session.handoff({ kind: "arcp", fingerprint: "sha256:runtime-c" }, { job_id: ticking.jobId })
      )
      yield* Console.log(
        `A refuses to hand to runtime-c: ${unknown._tag === "ArcpError" ? unknown.code : unknown.reason}`
      )
      yield* session.handoff({ kind: "arcp", fingerprint: "sha256:runtime-b" }, {
        job_id: ticking.jobId,
        reason: "runtime-a is draining"
      })
      const moved = yield* ticking.outcome
      let handedTo = ""
      while (handedTo === "") {
        const e = yield* Queue.take(events)
        const attributes = e.type === "log" ? Reflect.get(e.payload, "attributes") : undefined
        if (Reflect.get(attributes ?? {}, "reason") === "handed_off") {
          handedTo = String(Reflect.get(attributes ?? {}, "remote_job_id"))
        }
      }
      yield* Console.log(`handed-off job result ${JSON.stringify(moved)}`)
      // it ran to its end on B, as A's job there
      const onBAfter = yield* onB.request("cancel", { target: "job", target_id: handedTo })
      yield* Console.log(
        `B's handed-over job: ${onBAfter.type} ${String(Reflect.get(onBAfter.payload, "reason") ?? "")}`
      )

      // the trace of this whole request: the client's span, A's spans and B's spans
      return (yield* Effect.currentSpan).traceId
    }).pipe(Effect.withSpan("example request"), Effect.scoped)

    const traceId = await Effect.runPromise(
      program.pipe(Effect.catchIf((e) => e instanceof Errors.ArcpError, (e) => Effect.die(e)))
    )
    // both runtimes export in batches every 100 ms: wait until each has sent spans of this trace
    const services = () => new Set(otlp.spans.filter((s) => s.traceId === traceId).map((s) => s.service))
    for (let waited = 0; services().size < 2 && waited < 100; waited++) await new Promise((r) => setTimeout(r, 100))
    console.log(`one trace across ${[...services()].sort().join(" and ")}: ${traceId.length === 32}`)
  } finally {
    for (const child of children) child.kill("SIGTERM")
    otlp.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

await main()
