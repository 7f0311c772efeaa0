/**
 * The armed schedules of a runtime in firing order: a binary min-heap of
 * (time, id) with lazy removal, so one timer fiber can wait for the soonest
 * firing of any number of schedules (bench/schedules: a fiber per schedule
 * cost ~16 KB each). Not thread-safe beyond Effect.sync: the Scheduler owns it.
 */
interface Entry {
  readonly at: number
  readonly id: string
}

export interface Timeline {
  /** Arms `id` to fire at `at`, replacing an earlier arming of it. */
  readonly arm: (id: string, at: number) => void
  /** Disarms `id` (a cancelled or finished schedule). */
  readonly disarm: (id: string) => void
  /** The soonest armed firing, if any. */
  readonly peek: () => Entry | undefined
  /** Removes and returns the soonest armed firing if it is due at `now`. */
  readonly takeDue: (now: number) => Entry | undefined
  readonly size: () => number
}

export const make = (): Timeline => {
  const heap: Array<Entry> = []
  // the current firing time of each armed id: heap entries that disagree are stale
  const armed = new Map<string, number>()
  const less = (a: Entry, b: Entry) => a.at < b.at || (a.at === b.at && a.id < b.id)
  const swap = (i: number, j: number) => {
    const t = heap[i]
    const u = heap[j]
    if (t === undefined || u === undefined) return
    heap[i] = u
    heap[j] = t
  }
  const up = (start: number) => {
    let i = start
    while (i > 0) {
      const parent = (i - 1) >> 1
      const child = heap[i]
      const above = heap[parent]
      if (child === undefined || above === undefined || !less(child, above)) return
      swap(i, parent)
      i = parent
    }
  }
  const down = (start: number) => {
    let i = start
    while (true) {
      const left = 2 * i + 1
      const right = left + 1
      let least = i
      const l = heap[left]
      const r = heap[right]
      const c = heap[least]
      if (l !== undefined && c !== undefined && less(l, c)) least = left
      const m = heap[least]
      if (r !== undefined && m !== undefined && less(r, m)) least = right
      if (least === i) return
      swap(i, least)
      i = least
    }
  }
  const pop = () => {
    const top = heap[0]
    const last = heap.pop()
    if (heap.length > 0 && last !== undefined) {
      heap[0] = last
      down(0)
    }
    return top
  }
  /** Drops stale entries from the top. */
  const clean = () => {
    for (let top = heap[0]; top !== undefined && armed.get(top.id) !== top.at; top = heap[0]) pop()
  }
  return {
    arm: (id, at) => {
      armed.set(id, at)
      heap.push({ at, id })
      up(heap.length - 1)
      // stale entries are dropped as they surface; compact when they dominate
      if (heap.length > 2 * armed.size + 64) {
        const live = heap.filter((e) => armed.get(e.id) === e.at)
        heap.length = 0
        for (const e of live) {
          heap.push(e)
          up(heap.length - 1)
        }
      }
    },
    disarm: (id) => {
      armed.delete(id)
    },
    peek: () => {
      clean()
      return heap[0]
    },
    takeDue: (now) => {
      clean()
      const top = heap[0]
      if (top === undefined || top.at > now) return undefined
      pop()
      armed.delete(top.id)
      return top
    },
    size: () => armed.size
  }
}
