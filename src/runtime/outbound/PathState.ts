/**
 * The state of a connection's outbound path (Outbound), and what is read from it: how full it is, who may go on.
 */
import { type Deferred, Duration, Effect, type Fiber, type FiberRefs, type Scope } from "effect"
import type { HeaderOptions } from "../../protocol/Envelope.js"
import type { Decoded } from "../../protocol/Message.js"
import type { Connection } from "../../transport/Transport.js"
import { type Framed, type Limits, type Options, type Room, UNBOUNDED, type Usage } from "./OutboundApi.js"
import type * as Producers from "./Producers.js"
import * as Stall from "./Stall.js"
import * as WakeUp from "./WakeUp.js"
import * as WriteQueue from "./WriteQueue.js"

export interface Queued extends Framed {
  readonly bytes: number
}

/**
 * An outbound path's state in fields, and the figures read from it (its steps: Outbound). A class with its methods
 * on the prototype: an idle connection keeps this one object, not ~30 closures, their context and the effects they
 * were built into (issue 12). What only a busy path needs (the producers' waits, the stall watchdog) is made on
 * first use.
 */
export abstract class PathState implements Pick<Room, "roomNow">, Stall.Watched {
  readonly limits: Limits
  // committed (or unrecordable) envelopes waiting to be written, by priority
  protected readonly queue: WriteQueue.WriteQueue<Queued>
  // envelopes waiting to be committed, in send order; `committing` of them are with the recorder now
  protected pending: Array<Queued> = []
  protected committing = 0
  protected pendingBytes = 0
  // the writer's fiber, while it has something to do (an idle connection holds none, issue 12), and its wake-up:
  // a signal that came while it was not waiting is kept for its next wait (each round clears it)
  protected writer: Fiber.RuntimeFiber<void> | undefined = undefined
  protected readonly wakeUp = WakeUp.make()
  // flush callers wait for both fibers to find nothing left
  protected drained: Array<Deferred.Deferred<void>> = []
  protected defaults: HeaderOptions = {}
  // bytes handed to the transport, and of those, how many it reported taken by the peer
  protected handed = 0
  // envelopes the writer took and is writing now (a flush waits for them too)
  protected writing = 0
  // a write running on its own fiber (transports whose send may wait)
  protected writeInFlight = false
  protected broken = false
  protected sealed = false
  protected closed = false
  protected draining = false
  protected sidecarChunks = false
  // a transport that keeps what it is sent (and reports it) never makes a sender wait for the peer
  protected readonly holdsWhatItSends: boolean
  // made on first use: producers held back, and the stalled-reader watchdog (outbound/Stall)
  protected producers: Producers.Producers | undefined = undefined
  protected watchdog: Stall.Stall | undefined = undefined

  constructor(
    protected readonly connection: Connection,
    protected readonly options: Options,
    readonly scope: Scope.Scope,
    // the writer runs with the connection's fiber refs (log annotations), whoever starts it (a send from a finalizer too)
    protected readonly refs: FiberRefs.FiberRefs
  ) {
    this.limits = options.limits ?? UNBOUNDED
    this.queue = WriteQueue.make<Queued>(this.limits)
    this.holdsWhatItSends = connection.buffered !== undefined && connection.sendWaits !== true
  }

  get onStall() {
    return this.options.onStall
  }

  protected recordable(envelope: Decoded): boolean {
    return this.options.record !== undefined && (this.options.recordable?.(envelope) ?? true)
  }
  protected transportBytes(): number {
    return Math.max(0, this.connection.buffered?.() ?? 0)
  }
  taken(): number {
    return this.handed - this.transportBytes()
  }
  protected envelopes(): number {
    return this.queue.size() + this.pending.length + this.committing
  }
  protected bytes(): number {
    return this.queue.bytes() + this.pendingBytes + this.transportBytes()
  }
  full(): boolean {
    return this.envelopes() >= this.limits.maxEnvelopes || this.bytes() >= this.limits.maxBytes
  }
  /** Only what waits to be committed fills it: a producer of sheddable events waits for nothing else. */
  protected commitFull(): boolean {
    return this.pending.length + this.committing >= this.limits.maxEnvelopes ||
      this.pendingBytes >= this.limits.maxBytes
  }
  protected transportFull(): boolean {
    return !this.draining && this.transportBytes() >= this.limits.maxBytes
  }
  isClosed(): boolean {
    return this.closed
  }
  /** Whether a producer may go on (always, once the path is gone): a producer of sheddable events waits only for the commits. */
  roomNow(shedding: boolean): boolean {
    return this.closed || this.broken || this.sealed || !(shedding ? this.commitFull() : this.full())
  }
  protected wakeProducers(): Effect.Effect<void> {
    return this.producers === undefined ? Effect.void : this.producers.wake()
  }
  protected stallWatch(): Stall.Stall {
    return this.watchdog ??= Stall.make(this, Duration.decode(this.limits.stallTimeout))
  }
  protected noteFull(): Effect.Effect<void> {
    return Effect.suspend(() => this.full() ? this.stallWatch().noteFull() : Effect.void)
  }
  // the reactions end the session, which flushes this path: they run on their own fiber, never the writer's
  react(effect: Effect.Effect<void>): Effect.Effect<void> {
    return Effect.asVoid(Effect.forkIn(effect, this.scope))
  }

  get useSidecarChunks() {
    return Effect.sync(() => {
      this.sidecarChunks = true
    })
  }
  setDefaults(next: HeaderOptions): Effect.Effect<void> {
    return Effect.sync(() => {
      this.defaults = next
    })
  }
  get usage(): Effect.Effect<Usage> {
    return Effect.sync(() => ({
      envelopes: this.envelopes(),
      bytes: this.bytes(),
      transportBytes: this.transportBytes(),
      waiting: this.producers?.waiting() ?? 0,
      uncommitted: this.pending.length + this.committing,
      shed: this.queue.shed()
    }))
  }
}
