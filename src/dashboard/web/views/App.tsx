/** The page: sign-in, then the dashboard shell (status bar, questions waiting, and the views as tabs). */
import { useEffect, useMemo, useState } from "preact/hooks"
import { Dashboard } from "../Dashboard.js"
import type { Credentials, Status } from "../Wire.js"
import { shortId } from "./format.js"
import { useDashboard } from "./hooks.js"
import { JobsView } from "./Jobs.js"
import { ArtifactsView, EventsView, MetricsView, RunView, SessionsView } from "./Panels.js"
import { PendingList } from "./Pending.js"

export interface SignInData {
  readonly url: string
  readonly credentials: Credentials
}

const STORAGE_KEY = "arcp-dashboard"

/** The sign-in kept for this tab (sessionStorage: gone when the tab closes). */
export const remembered = (): SignInData | undefined => {
  try {
    const raw = sessionStorage.getItem(STORAGE_KEY)
    if (raw === null) return undefined
    const data: unknown = JSON.parse(raw)
    if (typeof data !== "object" || data === null) return undefined
    const url: unknown = Reflect.get(data, "url")
    const token: unknown = Reflect.get(data, "token")
    const scheme: unknown = Reflect.get(data, "scheme")
    return typeof url === "string" && typeof token === "string" && (scheme === "bearer" || scheme === "signed_jwt")
      ? { url, credentials: { scheme, token } }
      : undefined
  } catch {
    return undefined
  }
}

export const remember = (data: SignInData | undefined) => {
  if (data === undefined) sessionStorage.removeItem(STORAGE_KEY)
  else sessionStorage.setItem(STORAGE_KEY, JSON.stringify({ url: data.url, ...data.credentials }))
}

export function App(
  { defaultUrl, initial }: { readonly defaultUrl: string; readonly initial: SignInData | undefined }
) {
  const [signIn, setSignIn] = useState<SignInData | undefined>(initial)
  if (signIn === undefined) {
    return (
      <SignIn
        defaultUrl={defaultUrl}
        onSignIn={(data) => {
          remember(data)
          setSignIn(data)
        }}
      />
    )
  }
  return (
    <Shell
      signIn={signIn}
      onSignOut={() => {
        remember(undefined)
        setSignIn(undefined)
      }}
    />
  )
}

function SignIn(
  { defaultUrl, onSignIn }: { readonly defaultUrl: string; readonly onSignIn: (data: SignInData) => void }
) {
  const [url, setUrl] = useState(defaultUrl)
  const [token, setToken] = useState("")
  const [scheme, setScheme] = useState<Credentials["scheme"]>("bearer")
  return (
    <main class="signin">
      <form
        class="card"
        data-testid="signin"
        onSubmit={(e) => {
          e.preventDefault()
          if (token.trim() !== "") onSignIn({ url: url.trim(), credentials: { scheme, token: token.trim() } })
        }}
      >
        <h1>arcp dashboard</h1>
        <p class="muted">Sign in with a token the runtime accepts: you see what that principal may see.</p>
        <label class="field">
          <span>token</span>
          <input
            name="token"
            type="password"
            autocomplete="off"
            value={token}
            onInput={(e) => setToken(e.currentTarget.value)}
          />
        </label>
        <label class="field">
          <span>kind</span>
          <select
            name="scheme"
            value={scheme}
            onChange={(e) => setScheme(e.currentTarget.value === "signed_jwt" ? "signed_jwt" : "bearer")}
          >
            <option value="bearer">bearer token</option>
            <option value="signed_jwt">signed JWT</option>
          </select>
        </label>
        <label class="field">
          <span>runtime</span>
          <input name="url" type="url" value={url} onInput={(e) => setUrl(e.currentTarget.value)} />
        </label>
        <button type="submit" class="primary">Sign in</button>
      </form>
    </main>
  )
}

const TABS = ["jobs", "sessions", "metrics", "artifacts", "events", "run"] as const
type Tab = typeof TABS[number]

const statusText = (status: Status): string => {
  switch (status.kind) {
    case "connecting":
      return status.attempt > 1 ? `reconnecting (attempt ${status.attempt})…` : "connecting…"
    case "open":
      return "connected"
    case "retrying":
      return `${status.reason}: retrying in ${Math.round(status.inMs / 100) / 10} s`
    case "refused":
      return `sign-in refused: ${status.reason}`
    case "closed":
      return "signed out"
  }
}

function Shell({ onSignOut, signIn }: { readonly signIn: SignInData; readonly onSignOut: () => void }) {
  const dashboard = useMemo(() => new Dashboard(signIn.url, signIn.credentials, undefined), [signIn])
  const [tab, setTab] = useState<Tab>("jobs")
  useEffect(() => {
    dashboard.start()
    return () => dashboard.stop()
  }, [dashboard])
  useDashboard(dashboard)
  const status = dashboard.status
  const session = status.kind === "open" ? status.accepted : undefined
  const notice = dashboard.notice
  return (
    <div class="shell">
      <header class="top">
        <b>arcp</b>
        <span class={`status ${status.kind}`} data-testid="status" data-status={status.kind}>{statusText(status)}</span>
        {session !== undefined && (
          <span class="muted">
            session <code title={session.session_id}>{shortId(session.session_id)}</code> · trust{" "}
            {session.trust_level ?? "?"} · {session.runtime.kind} {session.runtime.version}
            {dashboard.subscription !== undefined ? " · observing" : " · own session only"}
          </span>
        )}
        <button
          type="button"
          class="link"
          onClick={() => {
            dashboard.stop()
            onSignOut()
          }}
        >
          Sign out
        </button>
      </header>
      {status.kind === "refused" && (
        <p class="error banner" role="alert">
          {statusText(status)}. <button type="button" onClick={onSignOut}>Sign in again</button>
        </p>
      )}
      {notice !== undefined && (
        <p class={`banner ${notice.kind}`} data-testid="notice" role="status">
          {notice.text} <button type="button" class="link" onClick={() => dashboard.dismissNotice()}>dismiss</button>
        </p>
      )}
      <PendingList dashboard={dashboard} />
      <nav class="tabs">
        {TABS.map((t) => (
          <button
            key={t}
            type="button"
            class={t === tab ? "on" : ""}
            data-testid={`tab-${t}`}
            onClick={() => setTab(t)}
          >
            {t}
          </button>
        ))}
      </nav>
      <main class="content">
        {tab === "jobs" && <JobsView dashboard={dashboard} />}
        {tab === "sessions" && <SessionsView dashboard={dashboard} />}
        {tab === "metrics" && <MetricsView dashboard={dashboard} />}
        {tab === "artifacts" && <ArtifactsView dashboard={dashboard} />}
        {tab === "events" && <EventsView dashboard={dashboard} />}
        {tab === "run" && <RunView dashboard={dashboard} onStarted={() => setTab("jobs")} />}
      </main>
    </div>
  )
}
