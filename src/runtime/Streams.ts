/**
 * Streams (RFC §11, §10.4): the streams a job's handler opens through its
 * `ToolContext`, emitted on the job's own outbound path (stream.open, ordered
 * stream.chunk, one terminal stream.close or stream.error), and `cancel` of a stream.
 */
import { Clock, Context, Deferred, Duration, Effect, Either, Layer } from "effect"
import * as Base64 from "../internal/Base64.js"
import { type HeaderOptions, make as makeEnvelope } from "../protocol/Envelope.js"
import { ArcpError, type ErrorPayload } from "../protocol/Errors.js"
import { makeStreamId, type SessionId, type StreamId } from "../protocol/Ids.js"
import type { Message, PayloadOf } from "../protocol/Message.js"
import type { StreamKind } from "../protocol/messages/Streaming.js"
import { awaitRoom, emit as emitJobEvent, hasEnded, type Job, type Owner, refuseCancel, roomWait } from "./jobs/Job.js"
import type { StreamOptions, StreamWriter } from "./Tools.js"

// the stream types live next to ToolContext (Tools), which hands them to handlers
export type { ChunkOf, StreamOptions, StreamWriter } from "./Tools.js"
import { RuntimeConfig } from "./RuntimeConfig.js"

export class Streams extends Context.Tag("arcp/Streams")<Streams, {
  /**
   * Sends stream.open for `job` and returns the writer (`pausePoint` runs before
   * each of its calls, §10.5); FAILED_PRECONDITION once the job has ended.
   */
  readonly open: <K extends StreamKind>(
    job: Job,
    options: StreamOptions<K>,
    pausePoint: Effect.Effect<unknown>
  ) => Effect.Effect<StreamWriter<K>, ArcpError>
  /** Answers a stream `cancel`: cancel.accepted then stream.error CANCELLED, or cancel.refused (§10.4). */
  readonly cancel: (message: Message<"cancel">, owner: Owner) => Effect.Effect<void>
  /** Ends the job's open streams before its terminal: stream.close on success, stream.error with `error` otherwise. */
  readonly endJob: (job: Job, error?: ErrorPayload) => Effect.Effect<void>
  /**
   * A client's `backpressure` (§11.2): with the envelope's `stream_id`, that stream's writer is paced
   * to `desired_rate_per_second` (0, or `buffer_remaining_bytes` 0 without a rate: paused until the
   * next backpressure); without one, every stream of the session's jobs below `high` priority is
   * (lower priority is slowed first, §6.5). A message with neither field lifts the pace.
   * NOT_FOUND when the stream is not one this session can see.
   */
  readonly backpressure: (message: Message<"backpressure">, owner: Owner) => Effect.Effect<void, ArcpError>
  /** The kind of a stream that is open now (what subscription filters need for chunks, §11.4). */
  readonly kindOf: (streamId: string) => StreamKind | undefined
}>() {}

/** How a client asked a stream's writer to slow down (§11.2). */
interface Pace {
  /** Chunks per second; 0 pauses until the next backpressure message. */
  readonly ratePerSecond: number
  /** Completed when a later backpressure message replaces this pace. */
  readonly replaced: Deferred.Deferred<void>
}

const OCTETS = "application/octet-stream"

/** How many ended stream ids are remembered, so a late cancel is refused already_terminal rather than not_found. */
const REMEMBERED_ENDED = 4096

interface OpenStream {
  readonly id: StreamId
  readonly job: Job
  readonly kind: StreamKind
  readonly contentType: string | undefined
  readonly lock: Effect.Semaphore
  readonly redact: StreamOptions<StreamKind>["redact"]
  sequence: number
  ended: "closed" | "failed" | "cancelled" | "overflowed" | undefined
  pace: Pace | undefined
  /** When (epoch ms) the next chunk may go under the current pace. */
  nextChunkAt: number
}

type ChunkBody = Omit<PayloadOf<"stream.chunk">, "sequence">

/** The kind-specific fields of a chunk; INVALID_ARGUMENT when the value does not fit the kind. */
const bodyOf = (stream: OpenStream, chunk: unknown): Either.Either<ChunkBody, ArcpError> => {
  // made only when needed: an ArcpError validates its fields and takes a stack, more than the chunk itself costs
  const misfit = () => Either.left(ArcpError.of("INVALID_ARGUMENT", `that chunk does not fit a ${stream.kind} stream`))
  switch (stream.kind) {
    case "text":
      return typeof chunk === "string" ? Either.right({ data: chunk }) : misfit()
    case "binary":
      return chunk instanceof Uint8Array
        ? Either.right({
          data: Base64.encode(chunk),
          encoding: "base64",
          content_type: stream.contentType ?? OCTETS
        })
        : misfit()
    case "thought": {
      const content: unknown = typeof chunk === "string"
        ? chunk
        : typeof chunk === "object" && chunk !== null
        ? Reflect.get(chunk, "content")
        : undefined
      const redacted: unknown = typeof chunk === "object" && chunk !== null ? Reflect.get(chunk, "redacted") : undefined
      if (typeof content !== "string") return misfit()
      // §11.4: redacted reasoning still goes out as a chunk, empty or summarized
      const { redact } = stream
      if (redact === undefined || redact === false) {
        return Either.right({ role: "assistant_thought", content, redacted: redacted === true })
      }
      return Either.right({
        role: "assistant_thought",
        content: typeof redact === "function" ? redact(content) : "",
        redacted: true
      })
    }
    case "event":
      return chunk === undefined ? misfit() : Either.right({ event: chunk })
    case "log":
      // a log line given as text travels as `data`, like a text chunk, and as WIRE's `log`
      return chunk === undefined
        ? misfit()
        : typeof chunk === "string"
        ? Either.right({ data: chunk, log: chunk })
        : Either.right({ log: chunk })
    case "metric":
      return chunk === undefined ? misfit() : Either.right({ metric: chunk })
  }
}

/** What a stream whose reader took nothing for --backpressure-timeout ends with (§11.2, §18). */
const overflowError = (stream: OpenStream) =>
  ArcpError.of(
    "BACKPRESSURE_OVERFLOW",
    `stream ${stream.id} was dropped: its reader's buffer had no room for a chunk within the backpressure timeout`,
    { details: { stream_id: stream.id } }
  )

export const make = Effect.gen(function*() {
  const { backpressureTimeout } = yield* RuntimeConfig
  const live = new Map<string, OpenStream>()
  // the open streams of each job, so ending a job touches only its own
  const byJob = new Map<Job, Set<OpenStream>>()
  // ended stream id -> the session of its job, oldest first
  const ended = new Map<string, SessionId>()

  /** A client may cancel the streams it can see: its session's, or those of a job it watches as the same principal. */
  const visible = (stream: OpenStream, owner: Owner) =>
    stream.job.sessionId === owner.sessionId ||
    (stream.job.principal === owner.principal && stream.job.isFollowedBy(owner.sessionId))

  const emit = <T extends "stream.open" | "stream.chunk" | "stream.close" | "stream.error">(
    stream: OpenStream,
    type: T,
    payload: PayloadOf<T>,
    header: HeaderOptions = {}
  ) => Effect.asVoid(emitJobEvent(stream.job, type, payload, { stream_id: stream.id, ...header }))

  /** Marks the stream ended and emits its one terminal event; call under its lock, while it is open. */
  const terminate = <T extends "stream.close" | "stream.error">(
    stream: OpenStream,
    how: "closed" | "failed" | "cancelled" | "overflowed",
    type: T,
    payload: PayloadOf<T>,
    header: HeaderOptions = {}
  ) =>
    Effect.suspend(() => {
      stream.ended = how
      live.delete(stream.id)
      const mine = byJob.get(stream.job)
      mine?.delete(stream)
      if (mine?.size === 0) byJob.delete(stream.job)
      ended.set(stream.id, stream.job.sessionId)
      for (const oldest of ended.keys()) {
        if (ended.size <= REMEMBERED_ENDED) break
        ended.delete(oldest)
      }
      // a writer paused by the client's backpressure wakes up to find the stream ended
      const paused = stream.pace
      stream.pace = undefined
      return emit(stream, type, payload, { priority: "critical", ...header }).pipe(
        Effect.zipRight(paused === undefined ? Effect.void : Deferred.succeed(paused.replaced, undefined))
      )
    })

  /** Runs `body` under the stream's lock while it is open, so nothing follows its terminal; fails once it has ended. */
  const whileOpen = (stream: OpenStream, body: Effect.Effect<void, ArcpError>) =>
    stream.lock.withPermits(1)(Effect.suspend(() => {
      if (stream.ended === undefined) return body
      const details = { stream_id: stream.id }
      return Effect.fail(
        stream.ended === "cancelled"
          ? ArcpError.of("CANCELLED", `stream ${stream.id} was cancelled by the client`, { details })
          : stream.ended === "overflowed"
          ? overflowError(stream)
          : ArcpError.of("FAILED_PRECONDITION", `stream ${stream.id} has ended`, { details })
      )
    }))

  /**
   * Waits for room for the next chunk (§11.2: the writer slows down); past
   * --backpressure-timeout the stream is dropped with stream.error
   * BACKPRESSURE_OVERFLOW and the write fails with it.
   */
  const roomFor = (stream: OpenStream): Effect.Effect<void, ArcpError> =>
    Effect.suspend(() => {
      // no wait, no timer: the timer made every chunk yield, and each chunk then took a commit of its own (issue 12)
      const wait = roomWait(stream.job, "stream.chunk", stream.job.turn())
      return wait === undefined ? Effect.void : underTimeout(stream, wait)
    })

  /** A chunk's wait for room, under the backpressure timeout. */
  const underTimeout = (stream: OpenStream, wait: Effect.Effect<void>): Effect.Effect<void, ArcpError> =>
    wait.pipe(
      Effect.timeoutTo({
        duration: backpressureTimeout,
        onSuccess: () => Effect.void,
        onTimeout: () =>
          stream.lock.withPermits(1)(Effect.suspend(() =>
            stream.ended !== undefined
              ? Effect.void
              : terminate(stream, "overflowed", "stream.error", {
                ...overflowError(stream).toPayload(),
                retryable: false
              })
          )).pipe(Effect.zipRight(Effect.fail(overflowError(stream))))
      }),
      Effect.flatten
    )

  /** Waits until the stream's pace lets its next chunk go (§11.2); a replaced pace is looked at afresh. */
  const paced = Effect.fnUntraced(function*(stream: OpenStream) {
    while (stream.pace !== undefined && stream.ended === undefined) {
      const pace = stream.pace
      if (pace.ratePerSecond <= 0) {
        yield* Deferred.await(pace.replaced)
        continue
      }
      const now = yield* Clock.currentTimeMillis
      const wait = stream.nextChunkAt - now
      if (wait > 0) {
        const replaced = yield* Effect.raceFirst(
          Effect.as(Effect.sleep(Duration.millis(wait)), false),
          Effect.as(Deferred.await(pace.replaced), true)
        )
        if (replaced) continue
      }
      stream.nextChunkAt = Math.max(now, stream.nextChunkAt) + 1000 / pace.ratePerSecond
      return
    }
  })

  /** A new stream of `job`, registered and announced (stream.open) under its lock. */
  const openStream = Effect.fnUntraced(function*(job: Job, options: StreamOptions<StreamKind>) {
    const kind: StreamKind = options.kind
    const contentType = options.content_type ?? (kind === "binary" ? OCTETS : undefined)
    const id = yield* makeStreamId
    const stream: OpenStream = {
      id,
      job,
      kind,
      contentType,
      lock: yield* Effect.makeSemaphore(1),
      redact: options.redact,
      sequence: 0,
      ended: undefined,
      pace: undefined,
      nextChunkAt: 0
    }
    yield* awaitRoom(job)
    // registered and announced under its lock: the job's end either comes first (refused) or finds it announced
    yield* stream.lock.withPermits(1)(Effect.suspend(() => {
      if (hasEnded(job)) {
        return Effect.fail(ArcpError.of("FAILED_PRECONDITION", `job ${job.id} has ended; no stream can be opened`))
      }
      live.set(stream.id, stream)
      const mine = byJob.get(job)
      if (mine === undefined) byJob.set(job, new Set([stream]))
      else mine.add(stream)
      return emit(stream, "stream.open", {
        kind,
        ...(contentType !== undefined ? { content_type: contentType } : {}),
        ...(kind === "binary"
          ? { encoding: "base64" }
          : kind === "text" || kind === "thought"
          ? { encoding: "utf-8" }
          : {}),
        related_job_id: job.id
      })
    }))
    return stream
  })

  /**
   * One stream.chunk with the next sequence; call under the stream's lock, while it is open. Made once, not a
   * generator function per chunk (each would be a hidden class of its own, keeping the chunk alive: issue 12).
   */
  const sendChunk = Effect.fnUntraced(function*(stream: OpenStream, chunk: unknown) {
    const body = yield* bodyOf(stream, chunk)
    const sequence = stream.sequence
    stream.sequence += 1
    yield* emit(stream, "stream.chunk", { sequence, ...body })
  })

  /** Sets (or lifts, with `rate` undefined) the pace of `stream`, waking a writer waiting under the old one. */
  const setPace = Effect.fnUntraced(function*(stream: OpenStream, rate: number | undefined) {
    const previous = stream.pace
    stream.pace = rate === undefined ? undefined : { ratePerSecond: rate, replaced: yield* Deferred.make<void>() }
    if (previous !== undefined) yield* Deferred.succeed(previous.replaced, undefined)
  })

  return Streams.of({
    kindOf: (streamId) => live.get(streamId)?.kind,

    backpressure: Effect.fn("Streams.backpressure")(function*(message: Message<"backpressure">, owner: Owner) {
      const { buffer_remaining_bytes, desired_rate_per_second } = message.payload
      const rate = desired_rate_per_second ?? (buffer_remaining_bytes === 0 ? 0 : undefined)
      const streamId = message.stream_id
      if (streamId !== undefined) {
        const stream = live.get(streamId)
        if (stream === undefined || !visible(stream, owner)) {
          return yield* ArcpError.of("NOT_FOUND", `no open stream ${streamId} in this session`, {
            details: { stream_id: streamId }
          })
        }
        return yield* setPace(stream, rate)
      }
      // session-wide: the lower-priority streams are slowed; high and critical ones keep their pace
      for (const stream of live.values()) {
        if (stream.job.sessionId !== owner.sessionId) continue
        const priority = stream.job.priority ?? "normal"
        if (priority === "high" || priority === "critical") continue
        yield* setPace(stream, rate)
      }
    }),

    // the writer is a plain object per stream; the generator behind it is made once (issue 12)
    open: <K extends StreamKind>(job: Job, options: StreamOptions<K>, pausePoint: Effect.Effect<unknown>) =>
      Effect.map(
        openStream(job, options),
        (stream): StreamWriter<K> => ({
          id: stream.id,
          kind: options.kind,
          write: (chunk) =>
            Effect.zipRight(
              Effect.zipRight(pausePoint, paced(stream)),
              Effect.flatMap(roomFor(stream), () => whileOpen(stream, sendChunk(stream, chunk)))
            ),
          close: (reason) =>
            Effect.zipRight(
              pausePoint,
              whileOpen(
                stream,
                Effect.suspend(() => {
                  const payload = { total_chunks: stream.sequence, ...(reason !== undefined ? { reason } : {}) }
                  return terminate(stream, "closed", "stream.close", payload)
                })
              )
            ),
          fail: (error) =>
            Effect.zipRight(
              pausePoint,
              whileOpen(stream, terminate(stream, "failed", "stream.error", error.toPayload()))
            )
        })
      ),

    cancel: Effect.fn("Streams.cancel")(function*(message: Message<"cancel">, owner: Owner) {
      const { reason, target_id } = message.payload
      const stream = live.get(target_id)
      if (stream === undefined || !visible(stream, owner)) {
        const seen = ended.get(target_id) === owner.sessionId
        return yield* refuseCancel(message, owner, seen ? "already_terminal" : "not_found")
      }
      // the check, the answer and the terminal under the stream's lock: no chunk or close can slip between them
      const accepted = yield* stream.lock.withPermits(1)(Effect.gen(function*() {
        if (stream.ended !== undefined) return false
        yield* owner.sink(
          yield* makeEnvelope("cancel.accepted", { target: "stream", target_id }, {
            session_id: owner.sessionId,
            job_id: stream.job.id,
            stream_id: stream.id,
            correlation_id: message.id
          })
        )
        const text = reason === undefined ? "the stream was cancelled" : `the stream was cancelled: ${reason}`
        yield* terminate(stream, "cancelled", "stream.error", { code: "CANCELLED", message: text, retryable: false }, {
          causation_id: message.id
        })
        return true
      }))
      if (!accepted) yield* refuseCancel(message, owner, "already_terminal")
    }),

    endJob: (job, error) =>
      Effect.suspend(() => {
        // most jobs open no stream: no `forEach` for them (issue 12)
        const streams = byJob.get(job)
        if (streams === undefined || streams.size === 0) return Effect.void
        return Effect.forEach(
          [...streams],
          (stream) =>
            stream.lock.withPermits(1)(Effect.suspend(() => {
              if (stream.ended !== undefined) return Effect.void
              return error === undefined
                ? terminate(stream, "closed", "stream.close", {
                  total_chunks: stream.sequence,
                  reason: "job completed"
                })
                : terminate(stream, "failed", "stream.error", { ...error, retryable: false })
            })),
          { discard: true }
        )
      })
  })
})

/** The stream registry of a runtime. */
export const layer: Layer.Layer<Streams, never, RuntimeConfig> = Layer.effect(Streams, make)
