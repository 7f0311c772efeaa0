/** Small formatting helpers shared by the views. */
import { nowMillis } from "../Timers.js"

/** Seconds or minutes between two ISO timestamps (the end defaults to now). */
export const elapsed = (from: string | undefined, to?: string): string => {
  if (from === undefined) return ""
  const ms = (to === undefined ? nowMillis() : Date.parse(to)) - Date.parse(from)
  if (!Number.isFinite(ms) || ms < 0) return ""
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)} s`
  if (ms < 120_000) return `${Math.round(ms / 1000)} s`
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`
}

/** The time of day of an ISO timestamp. */
export const clock = (iso: string): string => {
  const t = iso.indexOf("T")
  return t < 0 ? iso : iso.slice(t + 1, t + 13)
}

/** A short form of a long id: its prefix and last characters. */
export const shortId = (id: string): string => {
  const cut = id.indexOf("_")
  return id.length <= 14 ? id : `${cut > 0 ? id.slice(0, cut + 1) : ""}…${id.slice(-6)}`
}

export const bytes = (n: number): string =>
  n < 1024 ? `${n} B` : n < 1024 ** 2 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 ** 2).toFixed(1)} MiB`
