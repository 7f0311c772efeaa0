/** The other views: sessions, metrics as small charts, artifacts with download, recent events, and running a tool. */
import { useState } from "preact/hooks"
import { standardMetrics } from "../../../protocol/messages/Telemetry.js"
import type { Dashboard } from "../Dashboard.js"
import type { MetricPoint } from "../Model.js"
import { bytes, clock, shortId } from "./format.js"
import { Timeline } from "./Jobs.js"
import { VirtualList } from "./VirtualList.js"

export function SessionsView({ dashboard }: { readonly dashboard: Dashboard }) {
  const sessions = [...dashboard.model.sessions.values()].reverse()
  return (
    <section class="panel" data-testid="sessions">
      <p class="muted">
        Sessions this principal may observe: its own, and others' only as the runtime's subscription rules allow.
      </p>
      <VirtualList
        items={sessions}
        rowHeight={64}
        testId="session-list"
        keyOf={(s) => s.id}
        render={(s) => {
          const flags = Object.entries(s.capabilities ?? {}).filter(([, v]) => v === true).map(([k]) => k)
          return (
            <div class="session-row" data-testid={`session-${s.id}`}>
              <div>
                <code title={s.id}>{s.id}</code> {s.own && <span class="tag">this page</span>}
                {s.closed && <span class="tag">closed</span>}
              </div>
              <div class="muted">
                {s.principal ?? (s.own ? "you" : "principal ?")} · {s.transport ?? "transport ?"} · trust{" "}
                {s.trustLevel ?? "?"} · {s.jobs} jobs · lease{" "}
                {s.leaseExpiresAt !== undefined ? clock(s.leaseExpiresAt) : "?"} · seen {clock(s.lastSeen)}
              </div>
              <div class="caps muted">{flags.join(" ")}</div>
            </div>
          )
        }}
      />
    </section>
  )
}

function Sparkline({ points }: { readonly points: ReadonlyArray<MetricPoint> }) {
  const w = 240
  const h = 48
  const values = points.map((p) => p.value)
  const max = Math.max(...values, 0)
  const min = Math.min(...values, 0)
  const span = max - min || 1
  const step = points.length > 1 ? w / (points.length - 1) : w
  const path = values.map((v, i) => `${(i * step).toFixed(1)},${(h - ((v - min) / span) * h).toFixed(1)}`).join(" ")
  return (
    <svg class="spark" viewBox={`0 0 ${w} ${h}`} preserveAspectRatio="none" role="img">
      <polyline points={path} fill="none" stroke="currentColor" stroke-width="2" />
    </svg>
  )
}

export function MetricsView({ dashboard }: { readonly dashboard: Dashboard }) {
  const seen = [...dashboard.model.metrics.entries()]
  // the §17.3 standard names first, in their order, then whatever namespaced metrics arrived
  const standard = Object.keys(standardMetrics)
  const ordered = [
    ...standard.flatMap((name) => seen.filter(([n]) => n === name)),
    ...seen.filter(([n]) => !standard.includes(n))
  ]
  if (ordered.length === 0) {
    return <p class="muted empty" data-testid="metrics">No metrics yet: they appear as jobs emit them (§17.3).</p>
  }
  return (
    <section class="grid" data-testid="metrics">
      {ordered.map(([name, points]) => {
        const last = points[points.length - 1]
        return (
          <article class="card metric" key={name} data-testid={`metric-${name}`}>
            <header>
              <b>{name}</b> <span class="muted">{standardMetrics[name]?.unit ?? ""}</span>
            </header>
            <div class="value">{last?.value ?? ""}</div>
            <Sparkline points={points} />
          </article>
        )
      })}
    </section>
  )
}

export function ArtifactsView({ dashboard }: { readonly dashboard: Dashboard }) {
  const artifacts = [...dashboard.model.artifacts.values()].reverse()
  if (artifacts.length === 0) return <p class="muted empty" data-testid="artifacts">No artifacts yet.</p>
  const download = async (id: string, mediaType: string) => {
    const blob = await dashboard.fetchArtifact(id)
    if (blob === undefined) return
    const a = document.createElement("a")
    a.href = URL.createObjectURL(blob)
    a.download = `${id}${mediaType === "application/json" ? ".json" : mediaType.startsWith("text/") ? ".txt" : ".bin"}`
    a.click()
    URL.revokeObjectURL(a.href)
  }
  return (
    <table class="artifacts" data-testid="artifacts">
      <thead>
        <tr>
          <th>artifact</th>
          <th>type</th>
          <th>size</th>
          <th>job</th>
          <th>expires</th>
          <th />
        </tr>
      </thead>
      <tbody>
        {artifacts.map((a) => (
          <tr key={a.artifact_id}>
            <td>
              <code title={a.artifact_id}>{shortId(a.artifact_id)}</code>
            </td>
            <td>{a.media_type}</td>
            <td>{bytes(a.size)}</td>
            <td>{a.jobId !== undefined ? shortId(a.jobId) : ""}</td>
            <td>{a.expires_at !== undefined ? clock(a.expires_at) : ""}</td>
            <td>
              <button type="button" onClick={() => void download(a.artifact_id, a.media_type)}>Download</button>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  )
}

export function EventsView({ dashboard }: { readonly dashboard: Dashboard }) {
  return (
    <section class="panel events" data-testid="events">
      <Timeline entries={dashboard.model.events} />
    </section>
  )
}

/** Starts a tool as this page's session: the quickest way to see the runtime work. */
export function RunView({ dashboard, onStarted }: { readonly dashboard: Dashboard; readonly onStarted: () => void }) {
  const names = dashboard.tools.map((t) => t.name)
  const [tool, setTool] = useState(names[0] ?? "ticker")
  const [args, setArgs] = useState("{}")
  const [error, setError] = useState<string | undefined>(undefined)
  const description = dashboard.tools.find((t) => t.name === tool)
  return (
    <form
      class="panel run"
      data-testid="run"
      onSubmit={async (e) => {
        e.preventDefault()
        let parsed: unknown
        try {
          parsed = JSON.parse(args)
        } catch {
          return setError("arguments: enter a JSON object")
        }
        if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
          return setError("arguments: enter a JSON object")
        }
        setError(undefined)
        if ((await dashboard.invoke(tool, { ...parsed })) !== undefined) onStarted()
      }}
    >
      <label class="field">
        <span>tool</span>
        <input
          list="tool-names"
          name="tool"
          value={tool}
          onInput={(e) => setTool(e.currentTarget.value)}
        />
        <datalist id="tool-names">{names.map((n) => <option key={n} value={n} />)}</datalist>
      </label>
      {description?.description !== undefined && <p class="muted">{description.description}</p>}
      {description !== undefined && (
        <details>
          <summary class="muted">arguments schema</summary>
          <pre>{JSON.stringify(description.arguments_schema, null, 2)}</pre>
        </details>
      )}
      <label class="field">
        <span>arguments (JSON)</span>
        <textarea name="arguments" rows={4} value={args} onInput={(e) => setArgs(e.currentTarget.value)} />
      </label>
      {error !== undefined && <p class="error" role="alert">{error}</p>}
      <button type="submit" class="primary">Run</button>
    </form>
  )
}
