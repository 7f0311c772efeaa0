/** Re-renders a component when the dashboard's model changes (at most once a frame). */
import { useEffect, useState } from "preact/hooks"
import type { Dashboard } from "../Dashboard.js"
import { every } from "../Timers.js"

export const useDashboard = (dashboard: Dashboard): number => {
  const [version, setVersion] = useState(0)
  useEffect(() => dashboard.changes(() => setVersion((v) => v + 1)), [dashboard])
  return version
}

/** Re-renders every `ms` (elapsed times of running jobs). */
export const useTick = (ms: number): void => {
  const [, setTick] = useState(0)
  useEffect(() => every(ms, () => setTick((t) => t + 1)), [ms])
}
