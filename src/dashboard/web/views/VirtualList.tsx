/**
 * A list that renders only the rows in view (plus a few either side): rows have one fixed height, so a
 * thousand jobs or events cost as much as the twenty on screen.
 */
import type { ComponentChild } from "preact"
import { useLayoutEffect, useRef, useState } from "preact/hooks"

const OVERSCAN = 6

export interface VirtualListProps<A> {
  readonly items: ReadonlyArray<A>
  readonly rowHeight: number
  readonly render: (item: A, index: number) => ComponentChild
  readonly keyOf: (item: A) => string
  readonly className?: string
  readonly testId?: string
  /** Keeps the view at the end as items arrive, while the reader is there (timelines, logs). */
  readonly follow?: boolean
}

export function VirtualList<A>(props: VirtualListProps<A>) {
  const box = useRef<HTMLDivElement>(null)
  const [scrollTop, setScrollTop] = useState(0)
  const [height, setHeight] = useState(400)
  const atEnd = useRef(true)

  useLayoutEffect(() => {
    const el = box.current
    if (el === null) return
    const observer = new ResizeObserver(() => setHeight(el.clientHeight))
    observer.observe(el)
    setHeight(el.clientHeight)
    return () => observer.disconnect()
  }, [])

  const total = props.items.length * props.rowHeight
  useLayoutEffect(() => {
    const el = box.current
    if (props.follow === true && el !== null && atEnd.current) {
      el.scrollTop = total
      setScrollTop(el.scrollTop)
    }
  }, [total, props.follow])

  const first = Math.max(0, Math.floor(scrollTop / props.rowHeight) - OVERSCAN)
  const last = Math.min(props.items.length, Math.ceil((scrollTop + height) / props.rowHeight) + OVERSCAN)
  const rows = props.items.slice(first, last)

  return (
    <div
      ref={box}
      class={`vlist ${props.className ?? ""}`}
      data-testid={props.testId}
      onScroll={(e) => {
        const el = e.currentTarget
        atEnd.current = el.scrollTop + el.clientHeight >= el.scrollHeight - props.rowHeight
        setScrollTop(el.scrollTop)
      }}
    >
      <div style={{ height: `${total}px`, position: "relative" }}>
        {rows.map((item, i) => (
          <div
            key={props.keyOf(item)}
            class="vrow"
            style={{ top: `${(first + i) * props.rowHeight}px`, height: `${props.rowHeight}px` }}
          >
            {props.render(item, first + i)}
          </div>
        ))}
      </div>
    </div>
  )
}
