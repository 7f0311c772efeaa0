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
  readonly enqueue: (item: A, transportBytes: number) => void
  /** Up to `most` items, highest priority first. */
  readonly take: (most: number) => Array<A>
  readonly size: () => number
  readonly bytes: () => number
  /** How many were shed so far. */
  readonly shed: () => number
}

export const make = <A extends { readonly envelope: Decoded; readonly bytes: number }>(
  limits: { readonly maxEnvelopes: number; readonly maxBytes: number }
): WriteQueue<A> => {
  const lanes = Lanes.make<A>()
  let bytes = 0
  let shed = 0
  return {
    enqueue: (item, transportBytes) => {
      if (
        sheddable(item.envelope) && (lanes.size() >= limits.maxEnvelopes || bytes + transportBytes >= limits.maxBytes)
      ) {
        shed += 1
        return
      }
      lanes.push(item, priorityOf(item.envelope), item.envelope.job_id ?? item.envelope.stream_id)
      bytes += item.bytes
    },
    take: (most) => {
      const batch: Array<A> = []
      for (let next = lanes.pop(); next !== undefined; next = batch.length < most ? lanes.pop() : undefined) {
        batch.push(next)
        bytes -= next.bytes
      }
      return batch
    },
    size: lanes.size,
    bytes: () => bytes,
    shed: () => shed
  }
}
