/**
 * Priority lanes for the outbound path (RFC §6.5): higher priorities first,
 * a fairness floor so low lanes are never starved, and no reordering within
 * one job or stream (a job's events all wait in the lane of its oldest pending one).
 */
import { type Priority, priorityRank } from "../../protocol/Envelope.js"

/** After this many picks in a row from higher lanes, a waiting lower lane is served once. */
export const FAIRNESS_FLOOR = 8

interface Entry<A> {
  readonly value: A
  readonly key: string | undefined
}

export interface Lanes<A> {
  push(value: A, priority: Priority, key: string | undefined): void
  /** The next value to send, or undefined when empty. */
  pop(): A | undefined
  size(): number
}

/** What a lane holds: a FIFO with a moving head. */
interface Lane<A> {
  items: Array<Entry<A>>
  head: number
}

/**
 * A class, not closures over `let`s: one object per connection and its methods on the prototype (an idle session
 * kept five closures and their context, issue 12). The lanes are made by the first push and dropped once all are
 * empty: an idle session's lanes hold nothing, not even empty arrays.
 */
class PriorityLanes<A> implements Lanes<A> {
  // index = priority rank: 0 low ... 3 critical
  private lanes: Array<Lane<A>> | undefined = undefined
  private pendingByKey: Map<string, { lane: number; count: number }> | undefined = undefined
  private streak = 0
  private total = 0

  push(value: A, priority: Priority, key: string | undefined): void {
    let lane = priorityRank(priority)
    if (key !== undefined) {
      this.pendingByKey ??= new Map()
      const pending = this.pendingByKey.get(key)
      if (pending === undefined) this.pendingByKey.set(key, { lane, count: 1 })
      else {
        lane = pending.lane // same key: same FIFO, so never overtaken
        pending.count += 1
      }
    }
    this.lanes ??= [0, 1, 2, 3].map(() => ({ items: [], head: 0 }))
    this.lanes[lane]?.items.push({ value, key })
    this.total += 1
  }

  pop(): A | undefined {
    if (this.total === 0) return undefined
    let highest = -1
    let lowest = -1
    for (let i = 3; i >= 0; i--) {
      if (this.nonEmpty(i)) {
        if (highest === -1) highest = i
        lowest = i
      }
    }
    if (highest === -1) return undefined
    if (lowest !== highest && this.streak >= FAIRNESS_FLOOR) {
      this.streak = 0
      return this.take(lowest)
    }
    this.streak = lowest !== highest ? this.streak + 1 : 0
    return this.take(highest)
  }

  size(): number {
    return this.total
  }

  private take(lane: number): A | undefined {
    const l = this.lanes?.[lane]
    if (l === undefined || l.head >= l.items.length) return undefined
    const entry = l.items[l.head]
    l.head += 1
    if (l.head === l.items.length) {
      // emptied: what was sent is not kept (an idle session held its last envelopes until 1024 more came, issue 12)
      l.items = []
      l.head = 0
    } else if (l.head > 1024 && l.head * 2 > l.items.length) {
      l.items = l.items.slice(l.head)
      l.head = 0
    }
    if (entry === undefined) return undefined
    this.total -= 1
    if (this.total === 0) {
      this.lanes = undefined
      this.pendingByKey = undefined
    }
    if (entry.key !== undefined) {
      const pending = this.pendingByKey?.get(entry.key)
      if (pending !== undefined && --pending.count === 0) this.pendingByKey?.delete(entry.key)
    }
    return entry.value
  }

  private nonEmpty(lane: number): boolean {
    const l = this.lanes?.[lane]
    return l !== undefined && l.head < l.items.length
  }
}

export const make = <A>(): Lanes<A> => new PriorityLanes<A>()
