/**
 * Delegation between two runtimes over real WebSockets (§14, §17.1): A's tool
 * delegates to B through the project's client; the result comes back; the
 * delegated job runs as A's principal on B, keeps the trace (one joined trace
 * in a shared in-memory exporter), inherits only what B's policy grants;
 * cancelling A's job cancels B's; B refuses a handoff addressed elsewhere.
 * (Two real `arcp serve` processes: examples/13-delegation.ts, run by examples.test.ts.)
 */
import { assert, describe, it } from "@effect/vitest"
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Context, Effect, Either, Layer, Option, Queue, Stream } from "effect"
import { JobId } from "../../../src/protocol/Ids.js"
import * as PermissionPolicy from "../../../src/runtime/permissions/PermissionPolicy.js"
import * as Otlp from "../../../src/runtime/tracing/Otlp.js"
import { EventLog } from "../../../src/store/EventLog.js"
import { Acceptor } from "../../../src/transport/Transport.js"
import * as WebSocket from "../../../src/transport/WebSocket.js"
import { open, PRINCIPAL, serverLayer, TOKEN } from "../../support/Harness.js"

const exporter = new InMemorySpanExporter()
const tracer = Otlp.layerWith(new SimpleSpanProcessor(exporter))

/** B: grants filesystem.read when a delegator passes it on, and nothing else; its log stays readable by the test. */
const runtimeB = serverLayer({
  transport: WebSocket.layer({ port: 0 }),
  runtime: { identity: { kind: "arcp", fingerprint: "sha256:b" } }
}).pipe(
  Layer.provide(PermissionPolicy.layer((q) =>
    Effect.succeed(
      q.permission === "filesystem.read" && q.reason?.startsWith("inherited") === true
        ? { _tag: "Grant" }
        : { _tag: "Deny", reason: "not here" }
    )
  )),
  Layer.provide(tracer)
)

/** Builds B, then A knowing B as remote "b"; the test talks to A. */
const twoRuntimes = Effect.gen(function*() {
  const b = yield* Layer.build(runtimeB)
  const address = Context.get(b, Acceptor).address
  const a = serverLayer({
    transport: WebSocket.layer({ port: 0 }),
    runtime: {
      identity: { kind: "arcp", fingerprint: "sha256:a" },
      remotes: new Map([["b", { url: address, token: TOKEN, fingerprint: "sha256:b" }]])
    }
  }).pipe(Layer.provide(tracer))
  return { a, b, logB: Context.get(b, EventLog) }
})

const remoteJobOf = (events: Stream.Stream<{ readonly type: string; readonly payload: object }>) =>
  events.pipe(
    Stream.filter((e) => e.type === "log"),
    Stream.map((e) => Reflect.get(Reflect.get(e.payload, "attributes") ?? {}, "remote_job_id")),
    Stream.filter((id): id is string => typeof id === "string"),
    Stream.runHead,
    Effect.map(Option.getOrThrow)
  )

describe("delegation (§14)", () => {
  it.scoped("R14-1 R17.1-3 A's tool delegates to B: the result comes back, in one trace, as A's principal on B", () =>
    Effect.gen(function*() {
      exporter.reset()
      const { a, logB } = yield* twoRuntimes
      yield* Effect.gen(function*() {
        const session = yield* open()
        assert.isTrue(session.capabilities.agent_delegation)
        const job = yield* session.invoke("delegate", {
          remote: "b",
          target: "echo",
          arguments: { n: 1 },
          permissions_inherited: ["filesystem.read", "net.fetch"]
        })
        const remoteJob = yield* remoteJobOf(job.events)
        assert.deepStrictEqual(yield* job.outcome, { n: 1 })
        const traceId = (yield* Effect.currentSpan).traceId
        // B's delegated job: A's principal (the token A presents), ended job.completed
        const record = yield* logB.getJob(remoteJob)
        assert.isTrue(Option.isSome(record))
        if (Option.isNone(record)) return
        assert.strictEqual(record.value.principal, PRINCIPAL)
        assert.strictEqual(record.value.state, "completed")
        // what B recorded on its job: inherited only what its policy grants
        const events = yield* logB.read({ job_id: [remoteJob], direction: "out" })
        const note = events.map((e) => JSON.parse(e.json)).find((e: { type: string }) => e.type === "log")
        assert.deepStrictEqual(note?.payload.attributes.permissions_inherited, ["filesystem.read"])
        assert.deepStrictEqual(note?.payload.attributes.permissions_refused, ["net.fetch"])
        assert.strictEqual(note?.trace_id, traceId)
        // one trace: the client's request, A's job and B's job
        const names = exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId).map((s) => s.name)
        for (const name of ["arcp job delegate", "arcp agent.delegate", "arcp job echo"]) assert.include(names, name)
      }).pipe(Effect.withSpan("client request"), Effect.provide(a))
    }))

  it.scoped("R14-1 inherited permissions are leases of the delegated job on B, as far as B's policy grants", () =>
    Effect.gen(function*() {
      const { a, logB } = yield* twoRuntimes
      yield* Effect.gen(function*() {
        const session = yield* open()
        const read = { permission: "filesystem.read", resource: "/srv/notes.txt", operation: "read" }
        const job = yield* session.invoke("delegate", {
          remote: "b",
          target: "guarded",
          arguments: read,
          permissions_inherited: ["filesystem.read", "net.fetch"]
        })
        // B's guarded tool asks for filesystem.read: its inherited lease answers at once
        const lease = yield* job.outcome
        const leaseId = String(Reflect.get(Object(lease), "lease_id"))
        assert.strictEqual(Reflect.get(Object(lease), "resource"), "*")
        // ...and ends with the delegated job
        const record = Option.getOrUndefined(yield* logB.getLease(leaseId))
        assert.strictEqual(record?.revoked, "the delegated job ended")
        assert.strictEqual(record?.granted_by, `delegation:${PRINCIPAL}`)
        // net.fetch was passed on too, but B's policy denies it: not granted, the tool is refused
        const fetch = yield* session.invoke("delegate", {
          remote: "b",
          target: "guarded",
          arguments: { ...read, permission: "net.fetch" },
          permissions_inherited: ["filesystem.read", "net.fetch"]
        })
        const refused = yield* Effect.either(fetch.outcome)
        assert.isTrue(
          Either.isLeft(refused) && refused.left._tag === "ArcpError" && refused.left.code === "PERMISSION_DENIED"
        )
        // and without a delegation, B's policy grants nothing: the inherited lease did not outlive its job
        const direct = yield* session.invoke("delegate", { remote: "b", target: "guarded", arguments: read })
        const denied = yield* Effect.either(direct.outcome)
        assert.isTrue(
          Either.isLeft(denied) && denied.left._tag === "ArcpError" && denied.left.code === "PERMISSION_DENIED"
        )
      }).pipe(Effect.provide(a))
    }))

  it.scoped("R10.4-1 cancelling the delegating job cancels the delegated one", () =>
    Effect.gen(function*() {
      const { a, logB } = yield* twoRuntimes
      yield* Effect.gen(function*() {
        const session = yield* open()
        const job = yield* session.invoke("delegate", { remote: "b", target: "sleep", arguments: { ms: 60_000 } })
        const remoteJob = yield* remoteJobOf(job.events)
        yield* job.cancel({ reason: "stop" })
        const outcome = yield* Effect.either(job.outcome)
        assert.isTrue(Either.isLeft(outcome) && outcome.left._tag === "ArcpError" && outcome.left.code === "CANCELLED")
        const record = yield* logB.getJob(remoteJob)
        assert.strictEqual(Option.getOrUndefined(record)?.state, "cancelled")
      }).pipe(Effect.provide(a))
    }))

  it.scoped("unknown remotes and unknown targets fail the delegating job with a clear error", () =>
    Effect.gen(function*() {
      const { a } = yield* twoRuntimes
      yield* Effect.gen(function*() {
        const session = yield* open()
        const noRemote = yield* Effect.either(
          (yield* session.invoke("delegate", { remote: "z", target: "echo" })).outcome
        )
        assert.isTrue(
          Either.isLeft(noRemote) && noRemote.left._tag === "ArcpError" && noRemote.left.code === "NOT_FOUND"
        )
        const noTarget = yield* Effect.either(
          (yield* session.invoke("delegate", { remote: "b", target: "nothing" })).outcome
        )
        assert.isTrue(
          Either.isLeft(noTarget) && noTarget.left._tag === "ArcpError" && noTarget.left.code === "NOT_FOUND"
        )
      }).pipe(Effect.provide(a))
    }))

  // live clock: the handed-off job's sleep must really end
  it.live(
    "R14-2 a handoff must name the receiving runtime: another identity is refused PERMISSION_DENIED",
    () =>
      Effect.gen(function*() {
        const { b } = yield* twoRuntimes
        yield* Effect.gen(function*() {
          const session = yield* open()
          assert.isTrue(session.capabilities.agent_handoff)
          const foreign = yield* Effect.either(session.handoff({ kind: "arcp", fingerprint: "sha256:c" }))
          assert.isTrue(
            Either.isLeft(foreign) && foreign.left._tag === "ArcpError" && foreign.left.code === "PERMISSION_DENIED"
          )
          // addressed to B, it moves the named job of this principal to this session
          const other = yield* open()
          const events = yield* other.messages
          const job = yield* session.invoke("sleep", { ms: 1500 })
          yield* other.handoff({ kind: "arcp", fingerprint: "sha256:b" }, { job_id: job.jobId, reason: "desk change" })
          const seen = yield* events.pipe(Stream.filter((e) => e.job_id === job.jobId), Stream.take(1), Stream.runHead)
          assert.strictEqual(Option.getOrUndefined(seen)?.session_id, other.id)
          const missing = yield* Effect.either(
            other.handoff({ kind: "arcp", fingerprint: "sha256:b" }, { job_id: JobId.make("job_nope") })
          )
          assert.isTrue(
            Either.isLeft(missing) && missing.left._tag === "ArcpError" && missing.left.code === "NOT_FOUND"
          )
        }).pipe(Effect.provide(Layer.succeedContext(b)))
      }).pipe(Effect.scoped),
    20_000
  )

  // live clock: the ticker really ticks on both runtimes
  it.live(
    "R14-2 R17.1-3 a handoff to B moves A's running job there: it continues from its checkpoint, in one trace, its outcome comes back",
    () =>
      Effect.gen(function*() {
        const { a, logB } = yield* twoRuntimes
        yield* Effect.gen(function*() {
          const session = yield* open()
          const job = yield* session.invoke("ticker", { count: 6, interval_ms: 150 })
          const seen = yield* Queue.unbounded<{ readonly type: string; readonly payload: object }>()
          yield* job.events.pipe(Stream.runForEach((e) => Queue.offer(seen, e)), Effect.forkScoped)
          const onA: Array<{ readonly type: string; readonly payload: object }> = []
          while (onA.filter((e) => e.type === "job.progress").length < 2) onA.push(yield* Queue.take(seen))
          // A knows no runtime by a third fingerprint: refused, the job untouched
          const foreign = yield* Effect.either(
            session.handoff({ kind: "arcp", fingerprint: "sha256:c" }, { job_id: job.jobId })
          )
          assert.isTrue(
            Either.isLeft(foreign) && foreign.left._tag === "ArcpError" && foreign.left.code === "PERMISSION_DENIED"
          )
          // addressed to B (A's remote "b"): answered once B has taken it
          yield* session.handoff({ kind: "arcp", fingerprint: "sha256:b" }, {
            job_id: job.jobId,
            reason: "desk change"
          })
          assert.deepStrictEqual(yield* job.outcome, { count: 6 })
          while (onA.at(-1)?.type !== "job.completed" && onA.at(-1)?.type !== "tool.result") {
            onA.push(yield* Queue.take(seen))
          }
          const note = onA.find((e) => e.type === "log" && Reflect.get(e.payload, "message")?.startsWith("handed off"))
          const attributes = Reflect.get(note?.payload ?? {}, "attributes")
          const remoteJob = String(Reflect.get(attributes ?? {}, "remote_job_id"))
          // on B: a job of A's principal, completed, whose ticks go on after A's last checkpoint
          const record = Option.getOrUndefined(yield* logB.getJob(remoteJob))
          assert.strictEqual(record?.principal, PRINCIPAL)
          assert.strictEqual(record?.state, "completed")
          const ticks = (events: ReadonlyArray<{ readonly type: string; readonly payload: object }>) =>
            events.filter((e) => e.type === "job.progress").map((e) => Number(Reflect.get(e.payload, "current")))
          const eventsB = (yield* logB.read({ job_id: [remoteJob], direction: "out" })).map((e) => JSON.parse(e.json))
          const checkpointed = Number(Reflect.get(attributes ?? {}, "checkpoint_id") !== undefined)
          assert.strictEqual(checkpointed, 1, "the handoff carried A's last checkpoint")
          // every tick exactly once, across the two runtimes (A's before the handoff, B's after)
          const all = [...ticks(onA), ...ticks(eventsB)]
          assert.deepStrictEqual(all, [1, 2, 3, 4, 5, 6])
          assert.isAbove(ticks(eventsB).length, 0, "B ran part of it")
          assert.isAbove(ticks(eventsB)[0] ?? 0, 1, "B continued from the checkpoint")
          // one trace: B's job keeps A's job's trace id (R17.1-3)
          assert.isString(eventsB[0]?.trace_id)
          assert.strictEqual(eventsB[0]?.trace_id, Reflect.get(onA[0] ?? {}, "trace_id"))
          // handed off once: a second handoff finds it running here no more
          const again = yield* Effect.either(
            session.handoff({ kind: "arcp", fingerprint: "sha256:b" }, { job_id: job.jobId })
          )
          assert.isTrue(Either.isLeft(again) && again.left._tag === "ArcpError" && again.left.code === "NOT_FOUND")
        }).pipe(Effect.provide(a))
      }).pipe(Effect.scoped),
    30_000
  )

  it.live(
    "R14-2 a session's handoff to B moves every running job of that session; each outcome comes back",
    () =>
      Effect.gen(function*() {
        const { a, logB } = yield* twoRuntimes
        yield* Effect.gen(function*() {
          const session = yield* open()
          const first = yield* session.invoke("ticker", { count: 4, interval_ms: 100 })
          const second = yield* session.invoke("sleep", { ms: 400 })
          const events = yield* Queue.unbounded<{ readonly type: string; readonly payload: object }>()
          yield* first.events.pipe(Stream.runForEach((e) => Queue.offer(events, e)), Effect.forkScoped)
          while ((yield* Queue.take(events)).type !== "job.progress") continue
          yield* session.handoff({ kind: "arcp", fingerprint: "sha256:b" }, { session_id: session.id })
          assert.deepStrictEqual(yield* first.outcome, { count: 4 })
          yield* second.outcome
          // both ran to their end on B
          const onB = yield* logB.read({ direction: "out", types: ["log"] })
          const handed = onB.map((e) => JSON.parse(e.json)).filter((e: { payload: { attributes?: object } }) =>
            Reflect.get(e.payload.attributes ?? {}, "reason") === "handed_over"
          )
          assert.strictEqual(handed.length, 2)
          for (const e of handed) {
            assert.strictEqual(Option.getOrUndefined(yield* logB.getJob(e.job_id))?.state, "completed")
          }
        }).pipe(Effect.provide(a))
      }).pipe(Effect.scoped),
    30_000
  )

  it.live("R10.4-1 cancelling a handed-off job cancels it on B", () =>
    Effect.gen(function*() {
      const { a, logB } = yield* twoRuntimes
      yield* Effect.gen(function*() {
        const session = yield* open()
        const job = yield* session.invoke("sleep", { ms: 60_000 })
        const events = yield* Queue.unbounded<{ readonly type: string; readonly payload: object }>()
        yield* job.events.pipe(Stream.runForEach((e) => Queue.offer(events, e)), Effect.forkScoped)
        while ((yield* Queue.take(events)).type !== "job.started") continue
        yield* session.handoff({ kind: "arcp", fingerprint: "sha256:b" }, { job_id: job.jobId })
        const remoteJob = yield* remoteJobOf(Stream.fromQueue(events))
        yield* job.cancel({ reason: "stop" })
        const outcome = yield* Effect.either(job.outcome)
        assert.isTrue(Either.isLeft(outcome) && outcome.left._tag === "ArcpError" && outcome.left.code === "CANCELLED")
        assert.strictEqual(Option.getOrUndefined(yield* logB.getJob(remoteJob))?.state, "cancelled")
      }).pipe(Effect.provide(a))
    }).pipe(Effect.scoped), 30_000)
})
