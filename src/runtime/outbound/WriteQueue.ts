/**
 * What an outbound path holds to write: committed (or unrecordable) envelopes in their priority lanes (§6.5), the
 * bytes they take, and what was shed instead: a sheddable event (`Shedding`) that finds the socket side full is
 * counted and dropped from the live delivery (it is in the log).
 */
import { priorityOf } from "../../protocol/Envelope.js"
import type { Decoded } from "../../protocol/Message.js"
import * as Lanes from "./Lanes.js"
import { sheddable } from "./Shedding.js"

export interface WriteQueue<A extends { readonly envelope: Decoded; readonly bytes: number }> {
  /** Queues `item`, or sheds it when it is sheddable and the queue (with the transport's `transportBytes`) is full. */
  enqueue(item: A, transportBytes: number): void
  /** Up to `most` items, highest priority first. */
  take(most: number): Array<A>
  size(): number
  bytes(): number
  /** How many were shed so far. */
  shed(): number
}

/** One object with its methods on the prototype (closures kept per connection cost an idle session, issue 12). */
class Queue<A extends { readonly envelope: Decoded; readonly bytes: number }> implements WriteQueue<A> {
  private readonly lanes = Lanes.make<A>()
  private held = 0
  private dropped = 0

  constructor(private readonly limits: { readonly maxEnvelopes: number; readonly maxBytes: number }) {}

  enqueue(item: A, transportBytes: number): void {
    if (
      sheddable(item.envelope) &&
      (this.lanes.size() >= this.limits.maxEnvelopes || this.held + transportBytes >= this.limits.maxBytes)
    ) {
      this.dropped += 1
      return
    }
    this.lanes.push(item, priorityOf(item.envelope), item.envelope.job_id ?? item.envelope.stream_id)
    this.held += item.bytes
  }

  take(most: number): Array<A> {
    const batch: Array<A> = []
    for (let next = this.lanes.pop(); next !== undefined; next = batch.length < most ? this.lanes.pop() : undefined) {
      batch.push(next)
      this.held -= next.bytes
    }
    return batch
  }

  size(): number {
    return this.lanes.size()
  }

  bytes(): number {
    return this.held
  }

  shed(): number {
    return this.dropped
  }
}

export const make = <A extends { readonly envelope: Decoded; readonly bytes: number }>(
  limits: { readonly maxEnvelopes: number; readonly maxBytes: number }
): WriteQueue<A> => new Queue<A>(limits)
