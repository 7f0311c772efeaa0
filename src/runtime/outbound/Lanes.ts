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
  readonly push: (value: A, priority: Priority, key: string | undefined) => void
  /** The next value to send, or undefined when empty. */
  readonly pop: () => A | undefined
  readonly size: () => number
}

export const make = <A>(): Lanes<A> => {
  // index = priority rank: 0 low ... 3 critical; each lane is a FIFO with a moving head. Made by the first push and
  // dropped once all are empty: an idle session's lanes hold nothing, not even empty arrays (issue 12)
  let lanes: Array<{ items: Array<Entry<A>>; head: number }> | undefined
  let pendingByKey: Map<string, { lane: number; count: number }> | undefined
  let streak = 0
  let total = 0

  const take = (lane: number): A | undefined => {
    const l = lanes?.[lane]
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
    total -= 1
    if (total === 0) {
      lanes = undefined
      pendingByKey = undefined
    }
    if (entry.key !== undefined) {
      const pending = pendingByKey?.get(entry.key)
      if (pending !== undefined && --pending.count === 0) pendingByKey?.delete(entry.key)
    }
    return entry.value
  }
  const nonEmpty = (lane: number) => {
    const l = lanes?.[lane]
    return l !== undefined && l.head < l.items.length
  }

  return {
    push: (value, priority, key) => {
      let lane = priorityRank(priority)
      if (key !== undefined) {
        pendingByKey ??= new Map()
        const pending = pendingByKey.get(key)
        if (pending === undefined) pendingByKey.set(key, { lane, count: 1 })
        else {
          lane = pending.lane // same key: same FIFO, so never overtaken
          pending.count += 1
        }
      }
      lanes ??= [0, 1, 2, 3].map(() => ({ items: [], head: 0 }))
      lanes[lane]?.items.push({ value, key })
      total += 1
    },
    pop: () => {
      if (total === 0) return undefined
      let highest = -1
      let lowest = -1
      for (let i = 3; i >= 0; i--) {
        if (nonEmpty(i)) {
          if (highest === -1) highest = i
          lowest = i
        }
      }
      if (highest === -1) return undefined
      if (lowest !== highest && streak >= FAIRNESS_FLOOR) {
        streak = 0
        return take(lowest)
      }
      streak = lowest !== highest ? streak + 1 : 0
      return take(highest)
    },
    size: () => total
  }
}
