/**
 * The client's job handles (RFC §6.3, §6.4): each `invoke` registers a handle
 * before it is sent; its `job.accepted` attaches it to the job; the job's
 * events reach every handle on that job (invokes repeating one idempotency key
 * share it), and a terminal settles the handle of the invoke it answers.
 */
import type { Mailbox } from "effect"
import { Deferred, Effect, Exit } from "effect"
import { ArcpError } from "../../protocol/Errors.js"
import { type Decoded, isCore, type Message } from "../../protocol/Message.js"

/** The terminal event types of a job (§6.3). */
export const terminalTypes: ReadonlySet<string> = new Set([
  "tool.result",
  "tool.error",
  "job.completed",
  "job.failed",
  "job.cancelled"
])

/** One invoke's view of its job: the events after its job.accepted and the outcome. */
export interface JobSink<E> {
  readonly events: Mailbox.Mailbox<Decoded>
  readonly outcome: Deferred.Deferred<unknown, ArcpError | E>
}

/** The outcome a terminal event settles; undefined for other messages. */
const outcomeOf = (m: Message): Exit.Exit<unknown, ArcpError> | undefined => {
  switch (m.type) {
    case "tool.result":
      return Exit.succeed(m.payload.value ?? m.payload.result_ref)
    case "job.completed":
      return Exit.succeed(m.payload.result ?? m.payload.result_ref)
    case "tool.error":
    case "job.failed":
      return Exit.fail(ArcpError.fromPayload(m.payload))
    case "job.cancelled":
      return Exit.fail(
        ArcpError.of("CANCELLED", m.payload.reason ?? `job cancelled (${m.payload.source ?? "unknown source"})`)
      )
    default:
      return undefined
  }
}

export const make = <E>() => {
  // invokes awaiting job.accepted (by invoke id), and accepted ones (by job id, then invoke id)
  const awaitingAcceptance = new Map<string, JobSink<E>>()
  const watched = new Map<string, Map<string, JobSink<E>>>()

  return {
    /** Registers the handle of an invoke about to be sent. */
    expect: (invokeId: string, sink: JobSink<E>): void => {
      awaitingAcceptance.set(invokeId, sink)
    },

    /** Forgets an invoke's handle (its scope closed), accepted or not. */
    forget: (invokeId: string, jobId?: string): void => {
      awaitingAcceptance.delete(invokeId)
      const handles = jobId === undefined ? undefined : watched.get(jobId)
      handles?.delete(invokeId)
      if (jobId !== undefined && handles?.size === 0) watched.delete(jobId)
    },

    /**
     * Routes a message to the handles it concerns. A terminal settles the handle of the invoke it is
     * correlated to (each repeat of an idempotency key gets its own), or, uncorrelated (job.failed or
     * job.cancelled of the job's own invoke), every handle of the job still waiting: they share its outcome.
     */
    route: (message: Decoded): void => {
      // synchronous (the mailboxes are unbounded, the outcome settled in place): the reader calls it for
      // every message, and an Effect per message was a good part of the client's cost (issue 12)
      const jobId = message.job_id
      if (jobId === undefined) return
      if (message.type === "job.accepted" && message.correlation_id !== undefined) {
        const sink = awaitingAcceptance.get(message.correlation_id)
        if (sink !== undefined) {
          awaitingAcceptance.delete(message.correlation_id)
          const handles = watched.get(jobId) ?? new Map<string, JobSink<E>>()
          handles.set(message.correlation_id, sink)
          watched.set(jobId, handles)
          return
        }
      }
      const handles = watched.get(jobId)
      if (handles === undefined) return
      if (!terminalTypes.has(message.type)) {
        for (const sink of handles.values()) sink.events.unsafeOffer(message)
        return
      }
      const correlation = message.correlation_id
      const settled = correlation === undefined ? [...handles.keys()] : handles.has(correlation) ? [correlation] : []
      for (const invokeId of settled) {
        const sink = handles.get(invokeId)
        if (sink === undefined) continue
        handles.delete(invokeId)
        sink.events.unsafeOffer(message)
        const outcome = isCore(message) ? outcomeOf(message) : undefined
        if (outcome !== undefined) Deferred.unsafeDone(sink.outcome, outcome)
        sink.events.unsafeDone(Exit.void)
      }
      if (handles.size === 0) watched.delete(jobId)
    },

    /** Fails every handle with `error` and ends its events (the session ended). */
    failAll: Effect.fnUntraced(function*(error: E) {
      const sinks = [...[...watched.values()].flatMap((m) => [...m.values()]), ...awaitingAcceptance.values()]
      watched.clear()
      awaitingAcceptance.clear()
      for (const sink of sinks) {
        yield* Deferred.fail(sink.outcome, error)
        yield* sink.events.end
      }
    })
  }
}
