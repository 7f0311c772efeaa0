/** The jobs view: a virtualized list of jobs with progress bars, and the selected job's detail. */
import { useState } from "preact/hooks"
import type { Dashboard } from "../Dashboard.js"
import { isTerminal, jobList, type JobView, type StreamView, type TimelineEntry } from "../Model.js"
import { clock, elapsed, shortId } from "./format.js"
import { useTick } from "./hooks.js"
import { VirtualList } from "./VirtualList.js"

type Filter = "all" | "active" | "waiting" | "done"

export function Progress({ job }: { readonly job: JobView }) {
  const percent = job.percent ?? (job.state === "completed" ? 100 : undefined)
  return (
    <div
      class={`progress ${job.state}`}
      role="progressbar"
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={percent}
      data-testid={`progress-${job.id}`}
      data-percent={percent ?? ""}
    >
      <div class="bar" style={{ width: `${percent ?? 0}%` }} />
      <span>{percent !== undefined ? `${Math.round(percent)} %` : job.state}</span>
    </div>
  )
}

export function JobsView({ dashboard }: { readonly dashboard: Dashboard }) {
  const [filter, setFilter] = useState<Filter>("all")
  const [selected, setSelected] = useState<string | undefined>(undefined)
  useTick(1000)
  const jobs = jobList(dashboard.model, filter)
  const job = selected === undefined ? jobs[0] : dashboard.model.jobs.get(selected)
  return (
    <div class="split">
      <section class="jobs">
        <div class="filters" role="tablist">
          {(["all", "active", "waiting", "done"] as const).map((f) => (
            <button
              key={f}
              type="button"
              class={f === filter ? "on" : ""}
              onClick={() => setFilter(f)}
            >
              {f}
            </button>
          ))}
          <span class="muted">{jobs.length} jobs</span>
        </div>
        {jobs.length === 0
          ? <p class="muted empty">No jobs yet. Start one from “Run”, or from any client of this principal.</p>
          : (
            <VirtualList
              items={jobs}
              rowHeight={56}
              testId="job-list"
              keyOf={(j) => j.id}
              render={(j) => (
                <button
                  type="button"
                  class={`job-row ${j.id === job?.id ? "selected" : ""}`}
                  data-testid={`job-${j.id}`}
                  data-state={j.state}
                  onClick={() => setSelected(j.id)}
                >
                  <span class="name">{j.tool ?? shortId(j.id)}</span>
                  <span class={`state ${j.state}`}>{j.state}</span>
                  <span class="elapsed muted">{elapsed(j.startedAt ?? j.acceptedAt, j.endedAt)}</span>
                  <Progress job={j} />
                </button>
              )}
            />
          )}
      </section>
      {job !== undefined && <JobDetail dashboard={dashboard} job={job} />}
    </div>
  )
}

function JobDetail({ dashboard, job }: { readonly dashboard: Dashboard; readonly job: JobView }) {
  const [prompt, setPrompt] = useState("")
  const streams = job.streams.map((id) => dashboard.model.streams.get(id)).filter((s) => s !== undefined)
  const running = !isTerminal(job.state)
  return (
    <section class="detail" data-testid="job-detail" data-job={job.id}>
      <h2>
        {job.tool ?? "job"} <code title={job.id}>{job.id}</code>
      </h2>
      <dl class="facts">
        <dt>state</dt>
        <dd data-testid="job-state">{job.state}</dd>
        <dt>session</dt>
        <dd>{job.sessionId !== undefined ? shortId(job.sessionId) : "?"}</dd>
        <dt>elapsed</dt>
        <dd>{elapsed(job.startedAt ?? job.acceptedAt, job.endedAt)}</dd>
        <dt>heartbeats</dt>
        <dd>{job.heartbeats}{job.lastHeartbeatAt !== undefined ? ` (last ${clock(job.lastHeartbeatAt)})` : ""}</dd>
        {job.progressMessage !== undefined && (
          <>
            <dt>progress</dt>
            <dd>{job.progressMessage}</dd>
          </>
        )}
      </dl>
      <Progress job={job} />
      {job.error !== undefined && (
        <p class="error" data-testid="job-error">
          <b>{job.error.code}</b> {job.error.message}
        </p>
      )}
      {job.state === "completed" && job.result !== undefined && (
        <pre class="result" data-testid="job-result">{JSON.stringify(job.result, null, 2)}</pre>
      )}
      {running && (
        <div class="actions">
          <button type="button" class="danger" data-testid="cancel" onClick={() => void dashboard.cancel(job.id)}>
            Cancel
          </button>
          <input
            type="text"
            placeholder="interrupt prompt (optional)"
            value={prompt}
            onInput={(e) => setPrompt(e.currentTarget.value)}
          />
          <button type="button" data-testid="interrupt" onClick={() => void dashboard.interrupt(job.id, prompt)}>
            Interrupt
          </button>
        </div>
      )}
      {streams.map((s) => <StreamPanel key={s.id} stream={s} />)}
      <h3>Timeline</h3>
      <Timeline entries={job.timeline} />
    </section>
  )
}

export function Timeline({ entries }: { readonly entries: ReadonlyArray<TimelineEntry> }) {
  return (
    <VirtualList
      items={entries}
      rowHeight={24}
      className="timeline"
      testId="timeline"
      follow
      keyOf={(e) => e.id}
      render={(e) => (
        <div class={`event ${e.type.replace(/\./g, "-")}`}>
          <span class="time muted">{clock(e.timestamp)}</span>
          <span class="type">{e.type}</span>
          <span class="summary">{e.summary}</span>
        </div>
      )}
    />
  )
}

function StreamPanel({ stream }: { readonly stream: StreamView }) {
  return (
    <div class="stream" data-testid={`stream-${stream.kind}`}>
      <h3>
        stream <code>{shortId(stream.id)}</code> <span class="tag">{stream.kind}</span>
        <span class="muted">
          {stream.chunks} chunks{stream.closed ? ", closed" : ""}
          {stream.error !== undefined ? `, ${stream.error.code}` : ""}
        </span>
      </h3>
      {stream.thoughts.length > 0 && (
        <ol class="thoughts">
          {stream.thoughts.map((t, i) =>
            t.redacted
              ? <li key={i} class="thought redacted">(redacted)</li>
              : (
                <li key={i} class="thought">
                  {t.role !== undefined && <span class="tag">{t.role}</span>} {t.content}
                </li>
              )
          )}
        </ol>
      )}
      {stream.text !== "" && <pre class="stream-text">{stream.truncated ? "…" : ""}{stream.text}</pre>}
    </div>
  )
}
