/**
 * What a connection's outbound path offers its producers and what it is
 * built from (the implementation: Outbound).
 */
import { Duration, type Effect } from "effect"
import type { HeaderOptions } from "../../protocol/Envelope.js"
import type { Decoded, MessageType, PayloadOf } from "../../protocol/Message.js"

/** What the buffer holds, for limits, tests and benchmarks. */
export interface Usage {
  /** Envelopes queued here (waiting to be committed or written), not yet handed to the transport. */
  readonly envelopes: number
  /** Their bytes plus those the transport holds for the peer (the figure the byte limit applies to). */
  readonly bytes: number
  /** Of `bytes`, what the transport holds. */
  readonly transportBytes: number
  /** Producers suspended until there is room. */
  readonly waiting: number
  /** Of `envelopes`, those still waiting to be committed (the rest wait for the socket). */
  readonly uncommitted: number
  /** Low-priority events committed but not written because the buffer was full (§6.5). */
  readonly shed: number
}

/** A reader's buffer as its producers see it: the outbound path of the session a job's events go to. */
export interface Room {
  /** Suspends while the buffer is full; a job awaits it before each of its own events. */
  readonly room: Effect.Effect<void>
  /**
   * Room for an event that may be shed (a low-priority job's progress, log, metric): suspends only while
   * the envelopes waiting to be committed fill the buffer; a full socket sheds the event instead.
   */
  readonly sheddingRoom: Effect.Effect<void>
  /** Whether `room` (`shedding`: `sheddingRoom`) would let a producer go on now, checked with no fiber step. */
  roomNow(shedding: boolean): boolean
}

export interface Outbound extends Room {
  /**
   * Queues an envelope for writing; never waits (answers, terminals, heartbeats). `json`: its JSON when the
   * sender has already made it (a job's terminal), so it is not encoded twice.
   */
  send(envelope: Decoded, json?: string): Effect.Effect<void>
  /** Builds an envelope (id, timestamp, the header defaults) and queues it. */
  emit<T extends MessageType>(type: T, payload: PayloadOf<T>, options?: HeaderOptions): Effect.Effect<void>
  /** Completes when everything queued before it has been written (or the connection is gone). */
  readonly flush: Effect.Effect<void>
  /** Like flush, but writes past the transport's share of the budget: the connection is about to close. */
  readonly drain: Effect.Effect<void>
  /** Completes every flush and drain waiting now, done or not: a close whose grace has run out goes on without them. */
  readonly abandonDrains: Effect.Effect<void>
  /**
   * From now on binary stream chunks are written as sidecar frames (the session negotiated `sidecar`,
   * §11.3); the log still records them base64, so a replay to any transport reads them.
   */
  readonly useSidecarChunks: Effect.Effect<void>
  /** Sets header fields stamped on every later envelope (the session id, once accepted). */
  setDefaults(defaults: HeaderOptions): Effect.Effect<void>
  readonly usage: Effect.Effect<Usage>
  /** Completes when a producer waits for room, now or next (tests and benchmarks watch for it). */
  readonly backedUp: Effect.Effect<void>
}

/** An envelope with its JSON, as it is recorded and as the bus hands it back. */
export interface Framed {
  readonly envelope: Decoded
  readonly json: string
}

/** Where the bus hands a connection the envelopes it committed (synchronously, before `record` completes). */
export type Inbox = (events: ReadonlyArray<Framed>) => void

/**
 * Commits a batch and publishes it; the bus hands the committed copies to `inbox` before this completes.
 * A failure seals the path.
 */
export type Recorder = (
  batch: ReadonlyArray<Framed>,
  inbox: Inbox
) => Effect.Effect<void, { readonly message: string }>

export interface Limits {
  readonly maxBytes: number
  readonly maxEnvelopes: number
  /** The buffer full with nothing taken by the peer for this long: `onStall`. */
  readonly stallTimeout: Duration.DurationInput
}

export interface Options {
  record?(batch: ReadonlyArray<Framed>, inbox: Inbox): ReturnType<Recorder>
  /** Which envelopes go through the recorder (default: all); the others are written as they are. */
  recordable?(envelope: Decoded): boolean
  readonly limits?: Limits | undefined
  /** Recording failed: nothing more is written except `session.evicted`; this says goodbye. Runs once. */
  onRecordFailure?(error: { readonly message: string }): Effect.Effect<void>
  /** The peer read nothing for `stallTimeout` with the buffer full, or answers alone overran it twice. Runs once. */
  readonly onStall?: Effect.Effect<void> | undefined
}

/** Unbounded, for tools and tests that build an outbound path by hand. */
export const UNBOUNDED: Limits = {
  maxBytes: Number.POSITIVE_INFINITY,
  maxEnvelopes: Number.POSITIVE_INFINITY,
  stallTimeout: Duration.infinity
}
